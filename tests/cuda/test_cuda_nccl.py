r"""NCCL on the GPU: a ``torchrun``-style process group of one process, and
the library's data-parallel helpers (:mod:`rlmrec_pyg.train.distributed`)
running their collectives in it. Skipped without CUDA and NCCL, also on
the dry run."""
import socket

import pytest
import torch
import torch.distributed
from cuda_helpers import Run, compose, rec_data
from torch.nn.parallel import DistributedDataParallel

from rlmrec_pyg.nn import TrainBatch
from rlmrec_pyg.train import distributed as dist
from rlmrec_pyg.train.loop import LossTermsModule, train_epoch
from rlmrec_pyg.train.sampled import train_epoch_sampled
from rlmrec_pyg.typing import EDGE

pytestmark = pytest.mark.cuda

#: The backend under test (the tier's reason to exist: gloo on the CPU is
#: tests/train/test_distributed.py's).
BACKEND = 'nccl'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture
def group(device, monkeypatch):
    r"""An NCCL group of one process (rank 0, ``tcp://`` rendezvous, as
    ``torchrun`` starts one). Alone in a group the library's helpers are
    the identity (:func:`~rlmrec_pyg.train.distributed.is_distributed` is
    :obj:`False` for one process), so the group is declared distributed
    here, and the helpers run their collectives."""
    if BACKEND == 'nccl' and (device.type != 'cuda'
                              or not torch.distributed.is_nccl_available()):
        pytest.skip('needs a CUDA device and NCCL')
    if device.type == 'cuda':  # as the library under torchrun: LOCAL_RANK
        torch.cuda.set_device(device.index or 0)
    torch.distributed.init_process_group(
        BACKEND, init_method=f'tcp://127.0.0.1:{free_port()}', rank=0,
        world_size=1)
    monkeypatch.setattr(dist, 'is_distributed', lambda: True)
    try:
        yield
    finally:
        torch.distributed.destroy_process_group()


def test_collectives_on_the_device(group, device):
    # Catches: a helper handing NCCL a CPU tensor, or losing / reordering
    # rows in the gather of TrainBatch.gather (mutation tried, with gloo
    # standing in for NCCL on the CPU: `padded[:x.numel()] = x` removed
    # from `all_gather_cat`).
    x = torch.tensor([3.0, -1.5, 2.0], device=device)
    assert torch.equal(dist.all_reduce_sum(x), x)
    index = torch.tensor([4, 0, 4, 7], device=device)
    gathered = dist.all_gather_cat(index)
    assert gathered.device.type == device.type
    assert torch.equal(gathered, index)
    batch = TrainBatch(index, index, index, gather=dist.all_gather_cat)
    assert torch.equal(batch.candidates(index), index)
    assert dist.broadcast_object({'epoch': 3}) == {'epoch': 3}
    assert dist.world_size() == 1 and dist.rank() == 0


def test_con_in_batch_blocks_with_the_gather(group, device, tmp_path):
    # RLMRec-Con's in-batch candidates through the gather (and the blocks'
    # offset, an all-gather of the sizes) give the one-process loss.
    # Catches (tried with gloo): `_offset` summing every process's size
    # instead of the lower ranks'.
    cfg = compose(tmp_path, 'lightgcn', 'contrastive', deterministic=True,
                  extra=['alignment.module.negatives=in_batch',
                         'alignment.module.max_candidates=5'])
    run = Run(cfg, rec_data(device), device)
    index = torch.arange(12, device=device)
    terms = [
        run.model.loss_terms(TrainBatch(index % 20, index, (index + 7) % 30,
                                        run.data, gather=gather))['align']
        for gather in (None, dist.all_gather_cat)
    ]
    assert terms[1].item() == pytest.approx(terms[0].item(), rel=1e-6)


def test_ddp_epoch_equals_the_plain_epoch(group, device, tmp_path):
    # The loop through DistributedDataParallel (gradients all-reduced by
    # NCCL) trains as the plain loop. Catches: DDP's step computing other
    # terms (tried with gloo: `LossTermsModule.forward` passing 'batch'
    # for `reg`), NCCL changing the gradients, DDP refusing the model
    # (a parameter on another device, one left unused).
    cfg = compose(tmp_path, 'sgl', 'contrastive', deterministic=True)
    plain, wrapped = (Run(cfg, rec_data(device), device) for _ in range(2))
    ddp = DistributedDataParallel(LossTermsModule(wrapped.model))
    want = train_epoch(plain.model, plain.data, plain.optimizer,
                       plain.sampler, 64, plain.weights, 'all',
                       plain.generator)
    got = train_epoch(wrapped.model, wrapped.data, wrapped.optimizer,
                      wrapped.sampler, 64, wrapped.weights, 'all',
                      wrapped.generator, ddp_module=ddp)
    assert got == pytest.approx(want, rel=1e-4)
    for p, q in zip(plain.model.parameters(), wrapped.model.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-6)


def test_sampled_epoch_reduces_on_the_device(group, device, tmp_path,
                                             monkeypatch):
    # Sampled training under data parallelism reduces its means over the
    # processes, and NCCL takes device tensors only. Catches the bug fixed
    # here: the means were reduced as a CPU tensor (an error on a GPU).
    # Two processes are declared to reach the reduction; the one that runs
    # takes its half of the interactions and reduces with itself.
    monkeypatch.setattr(dist, 'world_size', lambda: 2)
    cfg = compose(tmp_path, 'lightgcn', 'base', deterministic=True)
    run = Run(cfg, rec_data(device), device)
    ddp = DistributedDataParallel(LossTermsModule(run.model))
    means = train_epoch_sampled(run.model, run.data, run.optimizer, [3, 2],
                                16, run.weights, 'batch', run.generator,
                                ddp_module=ddp)
    assert set(means) == {'loss', 'rec', 'reg'}
    assert all(0 < v < float('inf') for v in means.values())
    assert run.data[EDGE].edge_index.device.type == device.type
