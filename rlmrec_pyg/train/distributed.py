r"""Data-parallel training on :mod:`torch.distributed` (DDP under
``torchrun``: gloo on CPU, NCCL on GPU): who this process is, its share of
a batch, and the collectives the loop and the evaluation need. Without an
initialised process group every helper is the single-process identity, so
the same code runs alone and under ``torchrun``.

.. code-block:: bash

    torchrun --nproc-per-node 2 -m rlmrec_pyg.cli.train experiment=...
"""
import os
from typing import Any, Optional, Tuple

import torch
import torch.distributed as dist
from torch import Tensor

#: Environment variables ``torchrun`` sets in every process it starts.
TORCHRUN_ENV = ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')


def is_distributed() -> bool:
    r"""Whether a process group with more than one process is running."""
    return (dist.is_available() and dist.is_initialized()
            and dist.get_world_size() > 1)


def rank() -> int:
    r"""This process's rank (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    r"""The number of processes (1 when not distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    r"""Whether this process writes the outputs (rank 0)."""
    return rank() == 0


def launched_by_torchrun() -> bool:
    r"""Whether ``torchrun`` (or a launcher setting the same environment)
    started this process as one of several."""
    return (all(key in os.environ for key in TORCHRUN_ENV)
            and int(os.environ['WORLD_SIZE']) > 1)


def export_submitit_env() -> None:
    r"""In a task of a submitit job with several tasks (Hydra's submitit
    launcher, :obj:`tasks_per_node > 1` or :obj:`nodes > 1`), sets
    ``torchrun``'s environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
    ``MASTER_ADDR``, ``MASTER_PORT``) from SLURM's or the local executor's,
    through submitit's own helper; does nothing elsewhere."""
    if launched_by_torchrun() or not os.environ.get('SUBMITIT_EXECUTOR'):
        return
    from submitit.helpers import TorchDistributedEnvironment
    env = TorchDistributedEnvironment()
    if env.world_size > 1:
        env.export(set_cuda_visible_devices=False)


def init_from_env(device: str = 'cpu') -> bool:
    r"""Initialises the default process group from ``torchrun``'s
    environment (backend :obj:`"nccl"` for a CUDA :obj:`device`, else
    :obj:`"gloo"`; a CUDA process uses the GPU of its ``LOCAL_RANK``) and
    returns :obj:`True`; returns :obj:`False` and does nothing outside
    ``torchrun`` (or a several-task submitit job,
    :func:`export_submitit_env`) or when a group already runs."""
    export_submitit_env()
    if not launched_by_torchrun() or not dist.is_available() \
            or dist.is_initialized():
        return False
    cuda = str(device).startswith('cuda')
    if cuda:
        torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))
    dist.init_process_group('nccl' if cuda else 'gloo')
    return True


def local_device(device: str) -> str:
    r"""The device of this process: :obj:`"cuda:<LOCAL_RANK>"` for a CUDA
    :obj:`device` under ``torchrun``, else :obj:`device` itself."""
    if str(device).startswith('cuda') and launched_by_torchrun():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    return device


def share(num: int, rank_: Optional[int] = None,
          world: Optional[int] = None) -> Tuple[int, int]:
    r"""The contiguous rows :obj:`[lo, hi)` of :obj:`num` that process
    :obj:`rank_` of :obj:`world` takes (sizes differ by at most one; the
    first :obj:`num % world` processes take one more)."""
    rank_ = rank() if rank_ is None else rank_
    world = world_size() if world is None else world
    base, extra = divmod(num, world)
    lo = rank_ * base + min(rank_, extra)
    return lo, lo + base + (1 if rank_ < extra else 0)


def all_reduce_sum(x: Tensor) -> Tensor:
    r"""Returns the sum of :obj:`x` over all processes (:obj:`x` itself
    when not distributed)."""
    if not is_distributed():
        return x
    x = x.clone()
    dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x


def all_gather_cat(x: Tensor) -> Tensor:
    r"""Returns the concatenation, in rank order, of the 1-D tensors
    :obj:`x` of all processes (sizes may differ; no gradient flows)."""
    if not is_distributed():
        return x
    world = world_size()
    size = torch.tensor([x.numel()], device=x.device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    longest = int(max(int(s) for s in sizes))
    padded = x.new_zeros(longest)
    padded[:x.numel()] = x
    parts = [torch.zeros_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat([p[:int(s)] for p, s in zip(parts, sizes)])


def broadcast_object(obj: Any, src: int = 0) -> Any:
    r"""Returns rank :obj:`src`'s :obj:`obj` on every process."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def destroy() -> None:
    r"""Ends the default process group (nothing when there is none)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    r"""Waits for every process (nothing when not distributed)."""
    if is_distributed():
        dist.barrier()
