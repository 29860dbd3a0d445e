r"""One training epoch of RLMRec's official loop (``trainer.py``, spec §1.3,
§3.3, §4.2): BPR + L2 (+ SSL) (+ alignment) per batch of triples."""
import functools
import inspect
import math
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Tuple

import torch
from torch import Tensor
from torch.nn import Module
from torch.optim import Optimizer
from torch_geometric.data import HeteroData
from torch_geometric.typing import EdgeType
from tqdm import tqdm

from rlmrec_pyg.data import BPRSampler
from rlmrec_pyg.nn.functional import bpr_loss, l2_reg
from rlmrec_pyg.typing import ITEM, USER

REG_MODES = ('all', 'batch')


def _encoder(model: Module) -> Module:
    # The backbone inside an alignment / KAR wrapper (or the model itself).
    encoder = model._modules.get('encoder')
    return encoder if isinstance(encoder, Module) else model


@functools.lru_cache(maxsize=None)
def _ssl_params(cls: type) -> FrozenSet[str]:
    # What an ssl_loss reuses of the training forward (AutoCF: `z_dict`,
    # DCCF: `views`); read once per class, not once per step.
    return frozenset(inspect.signature(cls.ssl_loss).parameters)


def sem_inputs(model: Module, data: HeteroData) -> Tuple[Any, ...]:
    r"""The extra :obj:`forward` arguments of :obj:`model`: the semantic
    vectors :obj:`(data.sem_emb_dict, )` for a model with
    :obj:`requires_sem_emb` (:class:`~rlmrec_pyg.nn.KAR`), else :obj:`()`.
    """
    if not getattr(model, 'requires_sem_emb', False):
        return ()
    sem_dict = data.sem_emb_dict
    if not sem_dict:
        raise ValueError(f"'{model.__class__.__name__}' needs 'sem_emb' on "
                         f"the data (got a graph without semantic vectors)")
    return (sem_dict, )


def train_step(model: Module, embedding: Module, data: HeteroData,
               user: Tensor, pos: Tensor, neg: Tensor,
               lambda_reg: float = 1e-6, reg: str = 'all',
               alignment_weight: float = 0.0,
               generator: Optional[torch.Generator] = None,
               edge_index_dict: Optional[Dict[EdgeType, Tensor]] = None,
               extra_loss: Optional[Tensor] = None) -> Tensor:
    r"""Returns the loss of one batch of triples :math:`(u, i^+, i^-)`:

    .. math::
        \mathcal{L} = \mathcal{L}_{\text{rec}} + \lambda_{\text{reg}}
        \sum_{\theta} \|\theta\|_F^2 \; [+ \mathcal{L}_{\text{SSL}}]
        \; [+ w \, \mathcal{L}_{\text{align}}]

    with :math:`\mathcal{L}_{\text{rec}}` the BPR loss of the scores
    :math:`\hat{y}_{u,i} = \mathbf{z}_u^{\top} \mathbf{z}_i` (or the
    backbone's own :meth:`recommendation_loss`, AutoCF).
    :obj:`reg="all"` regularises every parameter of :obj:`model` and
    :obj:`embedding` (official); :obj:`reg="batch"` only the batch rows of
    the ID embeddings (PyG's :meth:`LightGCN.recommendation_loss`).

    The hooks are duck-typed, as the official per-model trainers:

    * a model with :meth:`sample_mask` (masked generative alignment) runs on
      masked inputs, its SSL term too, and is aligned on the masked nodes;
    * a model with :meth:`ssl_loss` adds its self-supervised term over the
      batch :obj:`{"user": user, "item": [pos, neg]}`, reusing the forward
      where it asks for it (AutoCF: :obj:`z_dict`; DCCF: the :obj:`views`
      of :obj:`forward(..., return_views=True)`);
    * a model with :obj:`requires_sem_emb` (KAR) gets
      :obj:`data.sem_emb_dict` as a third :obj:`forward` argument (and
      as :obj:`sem_dict` to a backbone's :meth:`ssl_loss`).

    Args:
        edge_index_dict (Dict, optional): The graph the model sees (default:
            :obj:`data.edge_index_dict`; AutoCF: its sampled graphs).
        extra_loss (torch.Tensor, optional): Added as is (AutoCF's infomax
            term of the step that sampled the graphs).
    """
    encoder = _encoder(model)
    device = next(embedding.parameters(), user).device
    user, pos, neg = user.to(device), pos.to(device), neg.to(device)
    x_dict = embedding()
    if edge_index_dict is None:
        edge_index_dict = data.edge_index_dict
    kwargs: Dict[str, Any] = {}  # for ssl_loss
    ssl_params = (_ssl_params(type(encoder)) if hasattr(model, 'ssl_loss')
                  else frozenset())
    # DCCF's contrast reuses the forward's per-layer views.
    fwd_kwargs = dict(return_views=True) if 'views' in ssl_params else {}
    # AutoCF's contrast and recommendation loss use positives only.
    items = [pos] if hasattr(encoder, 'sample_graph') else [pos, neg]
    index_dict: Dict[str, Any] = {USER: [user], ITEM: items}
    if hasattr(model, 'sample_mask'):
        num_nodes = {nt: x.size(0) for nt, x in x_dict.items()}
        mask_dict = model.sample_mask(num_nodes, generator=generator,
                                      device=device)
        out = model(x_dict, edge_index_dict, mask_dict, **fwd_kwargs)
        index_dict, kwargs = mask_dict, dict(mask_dict=mask_dict)
    else:
        sem = sem_inputs(model, data)
        out = model(x_dict, edge_index_dict, *sem, **fwd_kwargs)
        if sem:  # KAR: the SSL term sees the same inputs as the forward
            kwargs['sem_dict'] = sem[0]
    if fwd_kwargs:
        z_dict, kwargs['views'] = out
    else:
        z_dict = out
    if hasattr(encoder, 'recommendation_loss'):
        loss = encoder.recommendation_loss(z_dict, user, pos)
    else:
        z_user = z_dict[USER][user]
        loss = bpr_loss((z_user * z_dict[ITEM][pos]).sum(dim=-1),
                        (z_user * z_dict[ITEM][neg]).sum(dim=-1))
    if reg == 'all':
        params: Iterable[Tensor] = list(model.parameters()) + list(
            embedding.parameters())
    else:
        params = [x_dict[USER][user], x_dict[ITEM][pos], x_dict[ITEM][neg]]
    if lambda_reg > 0:
        loss = loss + l2_reg(params, lambda_reg)
    if ssl_params:
        if 'z_dict' in ssl_params:
            kwargs['z_dict'] = z_dict  # AutoCF: reuse the forward
        loss = loss + model.ssl_loss(x_dict, edge_index_dict, {
            USER: user,
            ITEM: [pos, neg]
        }, **kwargs)
    if alignment_weight > 0:
        loss = loss + alignment_weight * model.alignment_loss(
            z_dict, data.sem_emb_dict, index_dict)
    if extra_loss is not None:
        loss = loss + extra_loss
    return loss


def train_epoch(model: Module, embedding: Module, data: HeteroData,
                optimizer: Optimizer, sampler: BPRSampler,
                batch_size: int = 4096, lambda_reg: float = 1e-6,
                reg: str = 'all', alignment_weight: float = 0.0,
                generator: Optional[torch.Generator] = None,
                progress_bar: bool = False) -> Dict[str, float]:
    r"""Trains for one epoch: one fresh :math:`(u, i^+, i^-)` triple per
    training interaction (negatives redrawn every epoch by
    :obj:`sampler`), in shuffled batches of :obj:`batch_size` (the last one
    short), one Adam step per batch. Returns :obj:`{'loss': mean}`; a
    non-finite loss raises a :class:`FloatingPointError` naming the step.

    Args:
        model (torch.nn.Module): The encoder (possibly wrapped).
        embedding (torch.nn.Module): Returns :obj:`x_dict` when called.
        data (torch_geometric.data.HeteroData): The graph.
        optimizer (torch.optim.Optimizer): Over model and embedding.
        sampler (rlmrec_pyg.data.BPRSampler): Draws the triples.
        batch_size (int, optional): Triples per step. (default: :obj:`4096`)
        lambda_reg (float, optional): L2 weight. (default: :obj:`1e-6`)
        reg (str, optional): :obj:`"all"` or :obj:`"batch"`.
            (default: :obj:`"all"`)
        alignment_weight (float, optional): Weight of
            :meth:`alignment_loss`; :obj:`0` skips it. (default: :obj:`0.0`)
        generator (torch.Generator, optional): RNG of the sampler and masks.
            (default: :obj:`None`)
        progress_bar (bool, optional): Show a :obj:`tqdm` bar.
            (default: :obj:`False`)
    """
    if reg not in REG_MODES:
        raise ValueError(f"Unknown 'reg' '{reg}' (choose from "
                         f"{list(REG_MODES)})")
    if batch_size <= 0:
        raise ValueError(f"'batch_size' must be positive (got {batch_size})")
    model.train()
    embedding.train()
    user, pos, neg = sampler.sample(generator=generator)
    encoder = _encoder(model)
    graph: Optional[Dict[EdgeType, Tensor]] = None
    losses: List[float] = []
    starts = range(0, user.numel(), batch_size)
    for i, start in enumerate(tqdm(starts, disable=not progress_bar,
                                   leave=False)):
        end = start + batch_size
        optimizer.zero_grad()
        extra = None
        if hasattr(encoder, 'sample_graph'):
            # AutoCF: new masked graphs every `resample_every` batches (the
            # official trainer counts batches within the epoch).
            if i % encoder.resample_every == 0 or graph is None:
                graph, extra = encoder.sample_graph(
                    embedding(), data.edge_index_dict, generator)
        loss = train_step(model, embedding, data, user[start:end],
                          pos[start:end], neg[start:end], lambda_reg, reg,
                          alignment_weight, generator, graph, extra)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(
                f"The training loss is {losses[-1]} at step {i} (triples "
                f"{start}-{min(end, user.numel())}): the model diverged (a "
                f"learning rate too high, or non-finite inputs)")
    return {'loss': sum(losses) / max(len(losses), 1)}
