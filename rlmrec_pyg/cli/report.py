r"""The ``rlmrec-report`` command (``python -m rlmrec_pyg.cli.report``) and
the Hydra callback that writes the report when a sweep ends."""
import argparse
import logging
from typing import Any, List, Optional

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from rlmrec_pyg.report import report

log = logging.getLogger(__name__)


class ReportCallback(Callback):
    r"""A Hydra callback that writes :func:`report` into the sweep folder
    when a multirun ends and logs the table, so one command runs a study
    and prints its comparison:

    .. code-block:: yaml

        hydra:
          callbacks:
            report:
              _target_: rlmrec_pyg.cli.report.ReportCallback

    Args:
        split (str, optional): :obj:`"test"` or :obj:`"val"`.
            (default: :obj:`"test"`)
    """
    def __init__(self, split: str = 'test') -> None:
        self.split = split

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        folder = str(config.hydra.sweep.dir)
        paths = report(folder, split=self.split)
        with open(paths['markdown']) as f:
            log.info(f'Report of {folder}:\n{f.read()}')


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        description='Markdown table and figure from a Hydra multirun.')
    parser.add_argument('folder', help='the multirun folder')
    parser.add_argument('--out', default=None,
                        help='output folder (default: the multirun folder)')
    parser.add_argument('--split', default='test', choices=['test', 'val'])
    parser.add_argument('--x', default=None, dest='x_key',
                        help='override on the x-axis, e.g. noise_ratio')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    paths = report(args.folder, args.out, args.split, args.x_key)
    with open(paths['markdown']) as f:
        print(f.read())


if __name__ == '__main__':
    main()
