r"""One training epoch of RLMRec's official loop (``trainer.py``): the
model's named loss terms, weighed and summed, one Adam step per batch of
BPR triples."""
import math
from typing import Callable, Dict, Mapping, Optional, Tuple

import torch
from torch import Tensor
from torch.nn import Module
from torch.optim import Optimizer
from torch_geometric.data import HeteroData
from tqdm import tqdm

from rlmrec_pyg.data import BPRSampler
from rlmrec_pyg.nn import Recommender, TrainBatch
from rlmrec_pyg.nn.objective import LossTerms
from rlmrec_pyg.nn.recommender import REG_MODES
from rlmrec_pyg.train import distributed as dist

#: Weights of terms whose weight is fixed by their definition.
DEFAULT_LOSS_WEIGHTS: Dict[str, float] = {'rec': 1.0, 'reg': 1e-6}


def loss_weights(weights: Optional[Mapping[str, float]] = None
                 ) -> Dict[str, float]:
    r"""Returns :obj:`DEFAULT_LOSS_WEIGHTS` updated by :obj:`weights`,
    checked: every weight a finite number :math:`\geq 0`."""
    out = dict(DEFAULT_LOSS_WEIGHTS)
    for name, value in dict(weights or {}).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value < 0:
            raise ValueError(f"'loss_weights' must map term names to finite "
                             f"numbers >= 0 (got {name}={value!r})")
        out[str(name)] = float(value)
    return out


def weighted_sum(terms: Mapping[str, Tensor],
                 weights: Mapping[str, float]) -> Tensor:
    r"""Returns :math:`\sum_t w_t \mathcal{L}_t` over the :obj:`terms` in
    their order (a term of weight 0 is left out; one without a weight is an
    error naming it)."""
    missing = [name for name in terms if name not in weights]
    if missing:
        raise ValueError(
            f"The model returned the loss terms {list(terms)}, but "
            f"'loss_weights' has no weight for {missing} (got "
            f"{dict(weights)}); set them, e.g. "
            f"Trainer(loss_weights={{'{missing[0]}': ...}}) or "
            f"'trainer.loss_weights.{missing[0]}=...'")
    total: Optional[Tensor] = None
    for name, value in terms.items():
        weight = weights[name]
        if weight == 0:
            continue
        value = value if weight == 1 else weight * value
        total = value if total is None else total + value
    if total is None:
        raise ValueError(f"Every loss term has weight 0 (terms "
                         f"{list(terms)}, weights {dict(weights)})")
    return total


def train_step(model: Recommender, batch: TrainBatch,
               weights: Mapping[str, float], reg: str = 'all'
               ) -> Tuple[Tensor, Dict[str, Tensor]]:
    r"""Returns the loss of one batch and its unweighted terms:

    .. math::
        \mathcal{L} = \sum_{t} w_t \mathcal{L}_t, \qquad
        t \in \{\text{rec}, \text{reg}, \text{ssl}, \text{align},
        \dots\}

    with the terms of :meth:`Recommender.loss_terms` (the model says which)
    and :obj:`weights` the trainer's :obj:`loss_weights`.

    Args:
        model (Recommender): ID embeddings and encoder.
        batch (TrainBatch): The triples and their context.
        weights (Dict[str, float]): Weight of every term.
        reg (str, optional): :obj:`"all"` parameters (official) or
            :obj:`"batch"` rows in the :obj:`"reg"` term.
            (default: :obj:`"all"`)
    """
    terms = model.loss_terms(batch, reg)
    return weighted_sum(terms, weights), terms


class LossTermsModule(Module):
    r"""A :class:`~rlmrec_pyg.nn.Recommender` whose :meth:`forward` is its
    :meth:`~rlmrec_pyg.nn.Recommender.loss_terms`: what
    :class:`~torch.nn.parallel.DistributedDataParallel` wraps, so that a
    training step runs through DDP's forward and its gradients are
    all-reduced in the backward pass."""
    def __init__(self, model: Recommender) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: TrainBatch, reg: str = 'all') -> LossTerms:
        return self.model.loss_terms(batch, reg)


def step_values(loss: Tensor, terms: LossTerms) -> Tensor:
    r"""The loss and every term of a step as one float64 vector (one
    transfer per step), detached."""
    return torch.stack([loss.detach()] + [
        t.detach().reshape(()).to(loss.dtype) for t in terms.values()
    ]).double()


def train_epoch(model: Recommender, data: HeteroData, optimizer: Optimizer,
                sampler: BPRSampler, batch_size: int = 4096,
                weights: Optional[Mapping[str, float]] = None,
                reg: str = 'all', generator: Optional[torch.Generator] = None,
                progress_bar: bool = False,
                ddp_module: Optional[Module] = None) -> Dict[str, float]:
    r"""Trains for one epoch: one fresh :math:`(u, i^+, i^-)` triple per
    training interaction (negatives redrawn every epoch by
    :obj:`sampler`), in shuffled batches of :obj:`batch_size` (the last one
    short), one optimizer step per batch. Returns the mean of the loss and
    of every unweighted term over the batches (:obj:`{'loss': ..., 'rec':
    ..., 'reg': ..., ...}`; a term returned in some batches only, such as
    AutoCF's :obj:`"infomax"`, is summed over those and divided by the
    number of batches, so that the mean loss stays
    :math:`\sum_t w_t \bar{\mathcal{L}}_t`); a non-finite loss raises a
    :class:`FloatingPointError` naming the step.

    Data-parallel (a :mod:`torch.distributed` group of :math:`W`
    processes, :obj:`ddp_module` the
    :class:`~torch.nn.parallel.DistributedDataParallel` of a
    :class:`LossTermsModule` around :obj:`model`): every process draws the
    same triples (same :obj:`generator` seed) and takes its contiguous
    share :math:`\mathcal{B}_r` of every batch :math:`\mathcal{B}`
    (:func:`~rlmrec_pyg.train.distributed.share`; a batch of fewer rows
    than processes is taken whole by each); its loss is scaled by
    :math:`W |\mathcal{B}_r| / |\mathcal{B}|`, so that DDP's gradient
    average equals the one-process gradient of the whole batch for terms
    that are means over the batch rows (BPR, SSL and alignment terms) and
    for :obj:`"reg"`; in-batch candidates come from the whole batch
    (:attr:`~rlmrec_pyg.nn.TrainBatch.gather`). The returned means are
    the whole batch's, equal on every process.

    Args:
        model (Recommender): ID embeddings and encoder.
        data (torch_geometric.data.HeteroData): The graph.
        optimizer (torch.optim.Optimizer): Over :obj:`model.parameters()`.
        sampler (rlmrec_pyg.data.BPRSampler): Draws the triples.
        batch_size (int, optional): Triples per step. (default: :obj:`4096`)
        weights (Dict[str, float], optional): The loss weights
            (:func:`loss_weights`). (default: :obj:`None`)
        reg (str, optional): :obj:`"all"` or :obj:`"batch"`.
            (default: :obj:`"all"`)
        generator (torch.Generator, optional): RNG of the sampler, masks and
            sampled graphs. (default: :obj:`None`)
        progress_bar (bool, optional): Show a :obj:`tqdm` bar.
            (default: :obj:`False`)
        ddp_module (torch.nn.Module, optional): The DDP-wrapped
            :class:`LossTermsModule` of :obj:`model` under data-parallel
            training. (default: :obj:`None`)
    """
    if reg not in REG_MODES:
        raise ValueError(f"Unknown 'reg' '{reg}' (choose from "
                         f"{list(REG_MODES)})")
    if batch_size <= 0:
        raise ValueError(f"'batch_size' must be positive (got {batch_size})")
    weights = loss_weights(weights)
    model.train()
    device = next(model.parameters()).device
    world = dist.world_size()
    if world > 1 and ddp_module is None:
        raise ValueError("'train_epoch' runs in a process group of "
                         f"{world} processes but got no 'ddp_module' (the "
                         "DistributedDataParallel of a LossTermsModule)")
    user, pos, neg = sampler.sample(generator=generator)
    sums: Dict[str, Tensor] = {}
    starts = range(0, user.numel(), batch_size)
    bar = tqdm(starts, disable=not progress_bar, leave=False)
    for step, start in enumerate(bar):
        end = min(start + batch_size, user.numel())
        optimizer.zero_grad()
        scale: Optional[float] = None
        gather: Optional[Callable[[Tensor], Tensor]] = None
        if world > 1 and end - start >= world:  # this process's share
            lo, hi = dist.share(end - start)
            scale = world * (hi - lo) / (end - start)
            start, end, gather = start + lo, start + hi, dist.all_gather_cat
        elif world > 1:  # fewer rows than processes: all take them all
            scale = 1.0
        batch = TrainBatch(user[start:end].to(device),
                           pos[start:end].to(device),
                           neg[start:end].to(device), data, generator, step,
                           gather)
        if ddp_module is None:
            loss, terms = train_step(model, batch, weights, reg)
        else:
            terms = ddp_module(batch, reg)
            loss = weighted_sum(terms, weights)
        (loss if scale is None else loss * scale).backward()
        optimizer.step()
        values = step_values(loss, terms)
        if scale is not None:  # the whole batch's values, on every process
            values = dist.all_reduce_sum(values * scale) / world
        names = ('loss', *terms)
        for name, v in zip(names, values):
            sums[name] = v if name not in sums else sums[name] + v
        current = values.tolist()
        value = current[0]
        if progress_bar:
            bar.set_postfix({n: f'{v:.4g}' for n, v in zip(names, current)},
                            refresh=False)
        if not math.isfinite(value):
            raise FloatingPointError(
                f"The training loss is {value} at step {step} (triples "
                f"{start}-{min(end, user.numel())}): the model diverged (a "
                f"learning rate too high, or non-finite inputs)")
    if not sums:
        return {'loss': 0.0}
    means = (torch.stack(list(sums.values())) / len(starts)).tolist()
    return dict(zip(sums, means))
