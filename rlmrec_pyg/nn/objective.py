r"""The training contract: a model states its objective as *unweighted,
named* loss terms; the training loop weighs, sums, logs and
back-propagates them (:class:`~rlmrec_pyg.train.Trainer`).

Every trainable module of :mod:`rlmrec_pyg.nn` (the backbones and the
wrappers) is an :class:`Objective`. Any other encoder ``(x_dict,
edge_index_dict) -> z_dict`` (*e.g.*, your ``to_hetero`` GNN) trains on
the default objective, BPR, through :func:`loss_terms_of`: it needs no
method of ours.

Term names used across the library (each weighed by the trainer's
:obj:`loss_weights`):

* :obj:`"rec"`: the recommendation loss (BPR, or AutoCF's own);
* :obj:`"reg"`: the squared L2 norm (added by
  :class:`~rlmrec_pyg.nn.Recommender`);
* :obj:`"ssl"`: a backbone's self-supervised term (SGL, SimGCL, DCCF,
  AutoCF's uniformity), :obj:`"ssl_cross"` and :obj:`"infomax"`: AutoCF's
  user-item term and its local-graph infomax term;
* :obj:`"align"`: RLMRec-Con's or RLMRec-Gen's alignment term.
"""
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor
from torch.nn import Module
from torch_geometric.data import HeteroData
from torch_geometric.typing import EdgeType, NodeType

from rlmrec_pyg.nn.functional import bpr_loss
from rlmrec_pyg.typing import ITEM, USER

TensorDict = Dict[NodeType, Tensor]
EdgeIndexDict = Dict[EdgeType, Tensor]
LossTerms = Dict[str, Tensor]


@dataclass
class TrainBatch:
    r"""One training step: the BPR triples :math:`(u, i^+, i^-)` and the
    context a model may need.

    Args:
        user (torch.Tensor): Batch users :obj:`[B]`.
        pos (torch.Tensor): Their positive items :obj:`[B]`.
        neg (torch.Tensor): Sampled negative items :obj:`[B]`.
        data (torch_geometric.data.HeteroData, optional): The graph (its
            :obj:`sem_emb_dict` for the alignment and KAR).
        generator (torch.Generator, optional): The random generator of the
            step (masks, graph sampling).
        step (int, optional): The batch index within the epoch.
            (default: :obj:`0`)
        gather (Callable, optional): Under data-parallel training, where
            :obj:`user`, :obj:`pos` and :obj:`neg` are this process's share
            of the global batch: concatenates a 1-D index tensor over all
            processes, so that in-batch candidates are the global batch's
            (:meth:`candidates`). (default: :obj:`None`: one process)
    """
    user: Tensor
    pos: Tensor
    neg: Tensor
    data: Optional[HeteroData] = None
    generator: Optional[torch.Generator] = None
    step: int = 0
    gather: Optional[Callable[[Tensor], Tensor]] = None

    def candidates(self, index: Tensor) -> Tensor:
        r"""The global batch's version of :obj:`index` (a node index of this
        batch): the concatenation over all processes under data-parallel
        training, :obj:`index` itself otherwise."""
        return index if self.gather is None else self.gather(index)

    @property
    def sem_dict(self) -> TensorDict:
        r"""The semantic vectors :obj:`data.sem_emb_dict`."""
        sem = self.data.sem_emb_dict if self.data is not None else {}
        if not sem:
            raise ValueError("The model needs 'sem_emb' on the data (got a "
                             "graph without semantic vectors)")
        return sem


def bpr_terms(z_dict: TensorDict, batch: TrainBatch) -> LossTerms:
    r"""The default objective: :obj:`{"rec": BPR}` of the dot-product
    scores :math:`\hat{y}_{u,i} = \mathbf{z}_u^{\top} \mathbf{z}_i`."""
    z_user = z_dict[USER][batch.user]
    return {
        'rec':
        bpr_loss((z_user * z_dict[ITEM][batch.pos]).sum(dim=-1),
                 (z_user * z_dict[ITEM][batch.neg]).sum(dim=-1))
    }


class Objective(Module):
    r"""Base class of a module that states its training objective.

    A subclass is an encoder ``forward(x_dict, edge_index_dict, **kwargs)
    -> z_dict`` and may override:

    * :meth:`loss_terms`: the unweighted, named loss terms of one batch and
      the embeddings they were computed from (default: BPR on
      :meth:`forward`);
    * :meth:`training_graph`: the graph the step trains on and any terms
      that come with drawing it (default: the training graph as is;
      AutoCF samples masked graphs);
    * :meth:`encode`: the embeddings for evaluation and recommendation
      (default: :meth:`forward`; KAR feeds the semantic vectors);
    * :meth:`alignment_index`: the batch nodes an alignment wrapper aligns
      (default: the users, the positive and the negative items).
    """
    def loss_terms(self, x_dict: TensorDict, edge_index_dict: EdgeIndexDict,
                   batch: TrainBatch) -> Tuple[TensorDict, LossTerms]:
        r"""Returns :obj:`(z_dict, terms)` of one training batch."""
        z_dict = self(x_dict, edge_index_dict)
        return z_dict, bpr_terms(z_dict, batch)

    def training_graph(self, x_dict: TensorDict,
                       edge_index_dict: EdgeIndexDict, batch: TrainBatch
                       ) -> Tuple[EdgeIndexDict, LossTerms]:
        r"""Returns the graph of this step and the terms of drawing it."""
        return edge_index_dict, {}

    def encode(self, x_dict: TensorDict, edge_index_dict: EdgeIndexDict,
               data: Optional[HeteroData] = None) -> TensorDict:
        r"""Returns the evaluation embeddings :obj:`z_dict`."""
        return self(x_dict, edge_index_dict)

    def alignment_index(self, batch: TrainBatch) -> Dict[NodeType,
                                                         List[Tensor]]:
        r"""The batch nodes to align, one InfoNCE group per tensor."""
        return batch_index(batch)

    def initialize(self, x_dict: TensorDict, edge_index_dict: EdgeIndexDict,
                   data: HeteroData) -> None:
        r"""Materialises sizes left to infer (:obj:`-1`) from a graph, as
        PyG's lazy modules do on a first forward; called by
        :class:`~rlmrec_pyg.nn.Recommender`. Nothing to do by default."""


def batch_index(batch: TrainBatch) -> Dict[NodeType, List[Tensor]]:
    r"""The batch's users and its positive and negative items, as the
    :obj:`index_dict` of an alignment loss."""
    return {USER: [batch.user], ITEM: [batch.pos, batch.neg]}


# The contract for any encoder, ours or not (no duck typing: an encoder is
# an Objective or trains on the default).
def loss_terms_of(encoder: Module, x_dict: TensorDict,
                  edge_index_dict: EdgeIndexDict,
                  batch: TrainBatch) -> Tuple[TensorDict, LossTerms]:
    r"""The :meth:`Objective.loss_terms` of :obj:`encoder`, or BPR on its
    output for a plain encoder."""
    if isinstance(encoder, Objective):
        return encoder.loss_terms(x_dict, edge_index_dict, batch)
    z_dict = encoder(x_dict, edge_index_dict)
    return z_dict, bpr_terms(z_dict, batch)


def training_graph_of(encoder: Module, x_dict: TensorDict,
                      edge_index_dict: EdgeIndexDict, batch: TrainBatch
                      ) -> Tuple[EdgeIndexDict, LossTerms]:
    r"""The :meth:`Objective.training_graph` of :obj:`encoder`, or the
    graph as is."""
    if isinstance(encoder, Objective):
        return encoder.training_graph(x_dict, edge_index_dict, batch)
    return edge_index_dict, {}


def encode_of(encoder: Module, x_dict: TensorDict,
              edge_index_dict: EdgeIndexDict,
              data: Optional[HeteroData] = None) -> TensorDict:
    r"""The :meth:`Objective.encode` of :obj:`encoder`, or its output."""
    if isinstance(encoder, Objective):
        return encoder.encode(x_dict, edge_index_dict, data)
    return encoder(x_dict, edge_index_dict)


def alignment_index_of(encoder: Module,
                       batch: TrainBatch) -> Dict[NodeType, List[Tensor]]:
    r"""The :meth:`Objective.alignment_index` of :obj:`encoder`, or the
    default."""
    if isinstance(encoder, Objective):
        return encoder.alignment_index(batch)
    return batch_index(batch)


def initialize_of(encoder: Module, x_dict: TensorDict,
                  edge_index_dict: EdgeIndexDict, data: HeteroData) -> None:
    r"""Calls :meth:`Objective.initialize` of :obj:`encoder`, if it is
    one."""
    if isinstance(encoder, Objective):
        encoder.initialize(x_dict, edge_index_dict, data)
