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
import os
import os.path as osp
import sys
import tempfile
from typing import Callable, List, Sequence

from rlmrec_pyg.secrets import refuse_secret_overrides

#: The Hydra config folder of the checkout (``<repository>/conf``).
CONFIG_DIR = osp.abspath(
    osp.join(osp.dirname(__file__), osp.pardir, osp.pardir, 'conf'))


def rank_zero_argv(argv: Sequence[str]) -> List[str]:
    r"""The command line of this process: :obj:`argv` itself, except for a
    process of rank > 0 under ``torchrun``, whose Hydra files go to a
    temporary folder (any :obj:`hydra.run.dir` is replaced): rank 0 writes
    the run's one folder, and :func:`~rlmrec_pyg.cli.train.run` gives
    every process rank 0's :obj:`output_dir`."""
    rank = int(os.environ.get('RANK', '0') or 0)
    if rank == 0 or int(os.environ.get('WORLD_SIZE', '1') or 1) <= 1:
        return list(argv)
    own = osp.join(tempfile.gettempdir(), f'rlmrec_rank{rank}_{os.getpid()}')
    return [a for a in argv if not a.startswith('hydra.run.dir=')
            ] + [f'hydra.run.dir={own}']


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
    and checks that the configs are there first; under ``torchrun`` a
    process of rank > 0 keeps its Hydra files out of the run folder
    (:func:`rank_zero_argv`)."""
    refuse_secret_overrides(sys.argv[1:])
    check_config_dir(sys.argv[1:])
    sys.argv[1:] = rank_zero_argv(sys.argv[1:])
    hydra_main()
