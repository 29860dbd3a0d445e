r"""The one place the tests import the Hydra entry point from (the module
behind ``rlmrec-train``), so that moving it is one edit here, and the
composed run config of a test."""
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict

from rlmrec_pyg.cli import CONFIG_DIR
from rlmrec_pyg.cli.train import (  # noqa: F401
    build_encoder,
    check_run_config,
    main,
    run,
    trainer_kwargs,
)

#: The module ``python -m`` runs for a training run.
RUN_MODULE = 'rlmrec_pyg.cli.train'


def get_cfg(tmp_path, overrides):
    r"""The composed run config of :obj:`debug=fast` plus :obj:`overrides`,
    writing into :obj:`tmp_path`."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base='1.3', config_dir=CONFIG_DIR):
        cfg = compose('train', overrides=['debug=fast'] + overrides)
    GlobalHydra.instance().clear()
    with open_dict(cfg):
        cfg.output_dir = str(tmp_path)
    return cfg
