r"""The command-line entry points: the only package that imports Hydra.

* ``rlmrec-train`` (:mod:`rlmrec_pyg.cli.train`): one training run, or a
  multirun sweep with :obj:`-m`;
* ``rlmrec-vectors`` (:mod:`rlmrec_pyg.cli.vectors`): profiles and semantic
  vectors of a dataset;
* ``rlmrec-report`` (:mod:`rlmrec_pyg.cli.report`): tables and figures of a
  multirun;
* ``rlmrec-data`` (:mod:`rlmrec_pyg.data.__main__`): describe a dataset.

The configs are read from the checkout's ``conf/`` folder by absolute path,
so the commands start from any directory."""
import os.path as osp
import sys
from typing import Callable, Sequence

from rlmrec_pyg.secrets import refuse_secret_overrides

#: The Hydra config folder of the checkout (``<repository>/conf``).
CONFIG_DIR = osp.abspath(
    osp.join(osp.dirname(__file__), osp.pardir, osp.pardir, 'conf'))


def check_config_dir(argv: Sequence[str]) -> None:
    r"""Exits with one sentence when :obj:`CONFIG_DIR` is missing (the
    package was installed without its checkout) and the command line does
    not name a config folder (:obj:`--config-dir` / :obj:`-cd`)."""
    if osp.isdir(CONFIG_DIR) or any(
            a.startswith(('--config-dir', '-cd')) for a in argv):
        return
    raise SystemExit(f"The Hydra configs were not found at '{CONFIG_DIR}': "
                     f"install rlmrec_pyg from a clone with 'pip install "
                     f"-e .', or pass '--config-dir <clone>/conf'")


def entry_point(hydra_main: Callable[[], None]) -> None:
    r"""Runs a :func:`hydra.main` function as a console script: refuses an
    API key on the command line (Hydra would save it into the run folder)
    and checks that the configs are there first."""
    refuse_secret_overrides(sys.argv[1:])
    check_config_dir(sys.argv[1:])
    hydra_main()
