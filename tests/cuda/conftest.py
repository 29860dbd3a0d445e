r"""The CUDA tier: tests that need a GPU (marker :obj:`cuda`), each on the
:obj:`device` fixture.

On a machine with an NVIDIA GPU, from the repository root:

.. code-block:: bash

    python -m pytest -m cuda tests/cuda

(the :obj:`-m cuda` given on the command line replaces the
:obj:`-m "not slow"` of :obj:`addopts` in setup.cfg: the last :obj:`-m`
wins). Without a CUDA device every test here is skipped with the reason
"needs a CUDA device", so the default run collects the tier and skips it.

The dry run executes the whole tier on the CPU, one thread, so that it
never rots (the NCCL tests stay skipped; a comparison with the CPU is then
the CPU against itself, which checks the wiring, not the device):

.. code-block:: bash

    RLMREC_CUDA_TIER_DEVICE=cpu python -m pytest -m cuda tests/cuda
"""
import os
from typing import Optional

import pytest
import torch

#: The environment variable of the dry run.
ENV = 'RLMREC_CUDA_TIER_DEVICE'


def tier_device() -> Optional[torch.device]:
    r"""The device of the tier: CUDA when available, the CPU when
    :obj:`$RLMREC_CUDA_TIER_DEVICE` is :obj:`"cpu"` (the dry run), else
    :obj:`None` (the tier is skipped)."""
    value = os.environ.get(ENV, '')
    if value == 'cpu':
        return torch.device('cpu')
    if value:
        raise pytest.UsageError(f"${ENV} must be 'cpu' (the dry run of the "
                                f"CUDA tier) or unset (got {value!r})")
    return torch.device('cuda') if torch.cuda.is_available() else None


DEVICE = tier_device()  # a wrong value stops the run here, once


@pytest.fixture(scope='session')
def device() -> torch.device:
    r"""The device every test of the tier runs on."""
    if DEVICE is None:
        pytest.skip('needs a CUDA device')
    return DEVICE


@pytest.fixture(autouse=True)
def _on_the_tier_device(device):
    r"""Every test here needs the device (skipped without one); the dry run
    uses one CPU thread (tiny tensors: more threads only add sync cost)."""
    threads = torch.get_num_threads()
    if device.type == 'cpu':
        torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
