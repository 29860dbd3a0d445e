r"""Sampled mini-batch training with PyG's
:class:`~torch_geometric.loader.LinkNeighborLoader`: every step sees the
sampled subgraph around a batch of training interactions instead of the
whole graph (not the paper's protocol; for encoders that need not see the
whole graph, *e.g.*, a ``to_hetero(GraphSAGE)``)."""
import math
from typing import Dict, List, Mapping, Optional, Sequence

import torch
from torch import Tensor
from torch.nn import Module
from torch.optim import Optimizer
from torch_geometric.data import HeteroData
from torch_geometric.loader import LinkNeighborLoader
from torch_geometric.sampler import NegativeSampling
from tqdm import tqdm

from rlmrec_pyg.nn import Recommender, TrainBatch
from rlmrec_pyg.train import distributed as dist
from rlmrec_pyg.train.loop import loss_weights, step_values, weighted_sum
from rlmrec_pyg.typing import EDGE, ITEM, REV_EDGE, SEM_EMB, USER

#: What the outputs say about a sampled run.
PROTOCOL = 'sampled (LinkNeighborLoader; not the paper protocol)'


def check_num_neighbors(num_neighbors: Sequence[int]) -> List[int]:
    r"""Returns :obj:`num_neighbors` as a list, checked: one fan-out per
    layer, each a positive integer or :obj:`-1` (all neighbours)."""
    fanouts = (list(num_neighbors)
               if isinstance(num_neighbors, Sequence)
               and not isinstance(num_neighbors, str) else [])
    if not fanouts or any(
            isinstance(k, bool) or not isinstance(k, int) or k == 0
            or k < -1 for k in fanouts):
        raise ValueError(f"'num_neighbors' must be a non-empty list of "
                         f"fan-outs per layer, each a positive integer or "
                         f"-1 for all neighbours (got {num_neighbors!r})")
    return fanouts


def training_loader(data: HeteroData, num_neighbors: Sequence[int],
                    batch_size: int, edge_index: Optional[Tensor] = None,
                    generator: Optional[torch.Generator] = None,
                    **kwargs) -> LinkNeighborLoader:
    r"""Returns a :class:`~torch_geometric.loader.LinkNeighborLoader` over
    the training graph of :obj:`data` (its two edge types only: held-out
    interactions never enter a subgraph) that yields, per batch of
    :obj:`batch_size` training interactions :obj:`edge_index` (default:
    all), their sampled :obj:`num_neighbors`-hop subgraph with one uniform
    negative item per interaction (:obj:`"triplet"` sampling:
    ``batch['user'].src_index``, ``batch['item'].dst_pos_index`` and
    ``.dst_neg_index``, local to the subgraph, whose global ids are
    ``batch[node_type].n_id``).

    Args:
        data (torch_geometric.data.HeteroData): The graph.
        num_neighbors (List[int]): Fan-out per layer.
        batch_size (int): Interactions per batch.
        edge_index (torch.Tensor, optional): The interactions to iterate
            (*e.g.*, one process's share). (default: :obj:`None`)
        generator (torch.Generator, optional): Shuffles the batches.
            (default: :obj:`None`)
        **kwargs: Further :class:`~torch_geometric.loader.
            LinkNeighborLoader` arguments (*e.g.*, :obj:`num_workers`).
    """
    # PyG samples on the CPU: a graph on a GPU is sampled from CPU copies
    # (CUDA seeds reach the CPU sampler otherwise); `subgraph_batch` moves
    # each subgraph to the model's device.
    graph = HeteroData()
    for node_type in (USER, ITEM):
        graph[node_type].num_nodes = data[node_type].num_nodes
    graph[EDGE].edge_index = data[EDGE].edge_index.cpu()
    graph[REV_EDGE].edge_index = data[REV_EDGE].edge_index.cpu()
    if edge_index is None:
        edge_index = data[EDGE].edge_index
    return LinkNeighborLoader(graph, check_num_neighbors(num_neighbors),
                              edge_label_index=(EDGE, edge_index.cpu()),
                              neg_sampling=NegativeSampling('triplet'),
                              batch_size=batch_size, shuffle=True,
                              generator=generator, **kwargs)


def subgraph_batch(batch: HeteroData, data: HeteroData,
                   generator: Optional[torch.Generator], step: int,
                   device: torch.device) -> TrainBatch:
    r"""The :class:`~rlmrec_pyg.nn.TrainBatch` of a sampled subgraph: the
    triples in subgraph-local ids, and the subgraph with its nodes' global
    ids (:obj:`n_id`) and semantic rows (taken by global id from
    :obj:`data`, moved to :obj:`device` for this batch only)."""
    sub = batch.to(device)
    for node_type in (USER, ITEM):
        sem = data[node_type].get(SEM_EMB)
        if sem is not None:
            n_id = batch[node_type].n_id
            sub[node_type][SEM_EMB] = sem[n_id.to(sem.device)].to(
                device, torch.float32)
    return TrainBatch(sub[USER].src_index, sub[ITEM].dst_pos_index,
                      sub[ITEM].dst_neg_index.view(-1), sub, generator, step)


def train_epoch_sampled(model: Recommender, data: HeteroData,
                        optimizer: Optimizer, num_neighbors: Sequence[int],
                        batch_size: int = 4096,
                        weights: Optional[Mapping[str, float]] = None,
                        reg: str = 'batch',
                        generator: Optional[torch.Generator] = None,
                        progress_bar: bool = False,
                        ddp_module: Optional[Module] = None,
                        **loader_kwargs) -> Dict[str, float]:
    r"""Trains for one epoch on sampled subgraphs: every training
    interaction once, in shuffled batches of :obj:`batch_size`, each step
    on the :obj:`num_neighbors` subgraph around its batch
    (:func:`training_loader`), the model's loss terms computed on the
    subgraph's rows of the ID embeddings (:meth:`Recommender.loss_terms
    <rlmrec_pyg.nn.Recommender.loss_terms>` with :obj:`batch.data.n_id`);
    alignment wrappers align the subgraph's nodes with their semantic
    rows. Returns the mean loss and terms over the batches.

    Data-parallel (a process group, :obj:`ddp_module` the DDP of a
    :class:`~rlmrec_pyg.train.loop.LossTermsModule`): every process draws
    the same permutation of the training interactions and iterates its
    equal share of it (the last :math:`E \bmod W` of the permutation are
    left out of this epoch), so all take the same number of steps.

    Args:
        model (Recommender): ID embeddings and encoder.
        data (torch_geometric.data.HeteroData): The graph.
        optimizer (torch.optim.Optimizer): Over :obj:`model.parameters()`.
        num_neighbors (List[int]): Fan-out per layer.
        batch_size (int, optional): Interactions per step.
            (default: :obj:`4096`)
        weights (Dict[str, float], optional): The loss weights.
            (default: :obj:`None`)
        reg (str, optional): :obj:`"batch"` (the batch's ID rows, default
            here) or :obj:`"all"` (every parameter: every table, every
            step). (default: :obj:`"batch"`)
        generator (torch.Generator, optional): Shuffling, masks.
            (default: :obj:`None`)
        progress_bar (bool, optional): Show a :obj:`tqdm` bar.
            (default: :obj:`False`)
        ddp_module (torch.nn.Module, optional): Under data-parallel
            training. (default: :obj:`None`)
        **loader_kwargs: Further loader arguments.
    """
    weights = loss_weights(weights)
    model.train()
    device = next(model.parameters()).device
    edge_index = data[EDGE].edge_index
    world = dist.world_size()
    if world > 1:
        if ddp_module is None:
            raise ValueError("'train_epoch_sampled' runs in a process group "
                             "but got no 'ddp_module'")
        perm = torch.randperm(edge_index.size(1), generator=generator)
        per = edge_index.size(1) // world
        rank = dist.rank()
        edge_index = edge_index[:, perm[rank * per:(rank + 1) * per]]
    loader = training_loader(data, num_neighbors, batch_size, edge_index,
                             generator, **loader_kwargs)
    sums: Dict[str, Tensor] = {}
    steps = 0
    for step, sampled in enumerate(
            tqdm(loader, disable=not progress_bar, leave=False)):
        optimizer.zero_grad()
        batch = subgraph_batch(sampled, data, generator, step, device)
        terms = (model.loss_terms(batch, reg) if ddp_module is None else
                 ddp_module(batch, reg))
        loss = weighted_sum(terms, weights)
        loss.backward()
        optimizer.step()
        values = step_values(loss, terms)
        for name, value in zip(('loss', *terms), values):
            sums[name] = value if name not in sums else sums[name] + value
        steps += 1
        if not math.isfinite(float(values[0])):
            raise FloatingPointError(
                f"The training loss is {float(values[0])} at step {step}: "
                f"the model diverged (a learning rate too high, or "
                f"non-finite inputs)")
    means = {name: float(value) / max(steps, 1)
             for name, value in sums.items()}
    if world > 1:
        names = sorted(means)
        total = dist.all_reduce_sum(  # NCCL reduces device tensors only
            torch.tensor([means[n] for n in names], dtype=torch.float64,
                         device=device))
        means = {n: float(v) / world for n, v in zip(names, total)}
    return means or {'loss': 0.0}
