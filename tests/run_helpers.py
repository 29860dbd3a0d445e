r"""The one place the tests import the Hydra entry point from (the module
behind ``rlmrec-train``), so that moving it is one edit here."""
from rlmrec_pyg.train.run import (  # noqa: F401
    build_encoder,
    check_run_config,
    main,
    run,
    trainer_kwargs,
)

#: The module ``python -m`` runs for a training run.
RUN_MODULE = 'rlmrec_pyg.train.run'
