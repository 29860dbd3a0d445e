r"""SGL as used by RLMRec (official ``sgl.py``; docs/parity.md#sgl-contrast):
LightGCN plus an InfoNCE between two edge-dropped views."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.typing import EdgeType, NodeType

from rlmrec_pyg.nn.functional import info_nce
from rlmrec_pyg.nn.models._propagation import propagate_layers, split
from rlmrec_pyg.nn.models.lightgcn import LightGCN
from rlmrec_pyg.nn.objective import LossTerms, TrainBatch, batch_index
from rlmrec_pyg.typing import ITEM, USER

IndexGroups = Union[Tensor, Sequence[Tensor]]


def ssl_index(index_dict: Dict[NodeType, IndexGroups],
              name: str) -> Tuple[Tensor, List[Tensor]]:
    r"""Splits the :obj:`index_dict` of :meth:`ssl_loss` into the batch
    users and the item groups: :obj:`index_dict['item']` is the positive
    items, or :obj:`[positive, negative]` items (the form the alignment
    wrappers take), and :obj:`index_dict['user']` the batch users (a tensor
    or a one-element list)."""
    if not isinstance(index_dict, dict) or USER not in index_dict \
            or ITEM not in index_dict:
        raise ValueError(f"'index_dict' must map '{USER}' and '{ITEM}' to "
                         f"batch indices in '{name}' (got {index_dict!r})")
    groups: Dict[NodeType, List[Tensor]] = {}
    for nt in (USER, ITEM):
        value = index_dict[nt]
        group = [value] if isinstance(value, Tensor) else list(value)
        if len(group) == 0 or any(not isinstance(i, Tensor) or i.dim() != 1
                                  for i in group):
            raise TypeError(f"'index_dict' for node type '{nt}' must hold "
                            f"1-D index tensors in '{name}' (got {value!r})")
        groups[nt] = [i.long() for i in group]
    return torch.cat(groups[USER]), groups[ITEM]


def table_nce(query: Tensor, key: Tensor, index: Tensor,
              temperature: float) -> Tensor:
    r"""Returns :math:`\sum_r -\log \frac{\exp(\cos(\mathbf{q}_{i_r},
    \mathbf{k}_{i_r}) / \tau)}{\sum_c \exp(\cos(\mathbf{q}_{i_r},
    \mathbf{k}_c) / \tau)}` over the rows :math:`i_r` of :obj:`index`
    (official ``cal_infonce_loss``, summed) with **all** rows of :obj:`key`
    as candidates. Each distinct index is scored once and weighted by its
    count: the same value and gradient as one row per occurrence, with
    fewer :math:`|\mathcal{B}| \times N` logits."""
    uniq, count = index.unique(return_counts=True)
    return info_nce(query[uniq], key, uniq, temperature,
                    count) * index.numel()


class SGL(LightGCN):
    r"""The self-supervised graph learning encoder from the
    `"Self-supervised Graph Learning for Recommendation"
    <https://arxiv.org/abs/2010.10783>`_ paper (edge-dropout variant), in the
    form RLMRec's official code trains it (`"Representation Learning with
    Large Language Models for Recommendation"
    <https://arxiv.org/abs/2310.15950>`_).

    :meth:`forward` is LightGCN's layer-sum readout over the **clean**
    graph :math:`\hat{\mathbf{A}}` in training and evaluation alike (the
    official BPR uses view 3, the clean graph). :meth:`ssl_loss` runs two
    more forwards over independently edge-dropped adjacencies (each stored
    entry kept with probability :math:`1 - p`, no rescaling) and contrasts
    them, with **all** users / items of view 2 as candidates:

    .. math::
        \mathcal{L}_{\text{SSL}} =
        \mathrm{NCE}(\mathbf{Z}^{1}_{\mathcal{B}_u},
        \mathbf{Z}^{2}_{\mathcal{U}})
        + \mathrm{NCE}(\mathbf{Z}^{1}_{\mathcal{B}_+},
        \mathbf{Z}^{2}_{\mathcal{I}})
        + \mathrm{NCE}(\mathbf{Z}^{1}_{\mathcal{B}_-},
        \mathbf{Z}^{2}_{\mathcal{I}}), \quad
        \mathrm{NCE}(\mathbf{Q}, \mathbf{K}) = -\frac{1}{|\mathcal{B}|}
        \sum_{r} \log \frac{\exp(\cos(\mathbf{q}_r, \mathbf{k}_r)/\tau)}
        {\sum_{c} \exp(\cos(\mathbf{q}_r, \mathbf{k}_c)/\tau)}

    :meth:`loss_terms` returns it as :obj:`"ssl"`, unweighted; the trainer
    weighs it (official :obj:`cl_weight` :math:`\lambda`, 0.1 on Amazon:
    :obj:`loss_weights={"ssl": 0.1}`). Batch rows are not de-duplicated
    (official). The official code reads
    the top-level :obj:`layer_num` (3) for every dataset, so its Steam SGL
    runs 3 layers although its yml says 2
    (docs/parity.md#sgl-layer-count): set
    :obj:`num_layers` explicitly (the experiment configs do).

    Args:
        embedding_dim (int): Size :math:`d` of the input embeddings.
        num_layers (int, optional): Number of layers :math:`L`.
            (default: :obj:`3`)
        edge_drop_rate (float, optional): Probability :math:`p` of dropping
            an adjacency entry in each contrastive view (official
            :obj:`keep_rate` 0.8). (default: :obj:`0.2`)
        temperature (float, optional): The temperature :math:`\tau`.
            (default: :obj:`0.2`)
        backend (str, optional): Sparse layout of the propagation (see
            :class:`~rlmrec_pyg.nn.LightGCN`). (default: :obj:`None`)

    Shapes:
        - **input:** :obj:`x_dict` with :math:`(|\mathcal{U}|, d)` and
          :math:`(|\mathcal{I}|, d)`, :obj:`edge_index_dict` holding
          :obj:`('user', 'to', 'item')` :math:`(2, E)`
        - **output:** :obj:`z_dict` with :math:`(|\mathcal{U}|, d)` and
          :math:`(|\mathcal{I}|, d)`
    """
    #: Whether :meth:`ssl_loss` contrasts every item group of the batch
    #: (:obj:`True`) or only the positive items.
    contrast_negatives: bool = True

    def __init__(self, embedding_dim: int, num_layers: int = 3,
                 edge_drop_rate: float = 0.2, temperature: float = 0.2,
                 backend: Optional[str] = None) -> None:
        super().__init__(embedding_dim, num_layers, edge_drop_rate, backend)
        name = self.__class__.__name__
        if not temperature > 0:
            raise ValueError(f"'temperature' must be positive in '{name}' "
                             f"(got {temperature})")
        self.temperature = float(temperature)

    def _layers(self, x_dict: Dict[NodeType, Tensor],
                edge_index_dict: Dict[EdgeType, Tensor],
                edge_drop_rate: float = 0.0) -> List[Tensor]:
        return propagate_layers(self.conv, x_dict, edge_index_dict,
                                self.num_layers, self.backend, edge_drop_rate,
                                self.__class__.__name__)

    def forward(self, x_dict: Dict[NodeType, Tensor],
                edge_index_dict: Dict[EdgeType, Tensor]
                ) -> Dict[NodeType, Tensor]:
        r"""Returns the layer-sum embeddings over the clean graph."""
        out = torch.stack(self._layers(x_dict, edge_index_dict)).sum(dim=0)
        return split(out, x_dict[USER].size(0))

    def view(self, x_dict: Dict[NodeType, Tensor],
             edge_index_dict: Dict[EdgeType, Tensor]
             ) -> Dict[NodeType, Tensor]:
        r"""Returns one augmented view: the layer sum over an edge-dropped
        adjacency (a fresh mask per call, shared by all layers)."""
        xs = self._layers(x_dict, edge_index_dict, self.edge_drop_rate)
        return split(torch.stack(xs).sum(dim=0), x_dict[USER].size(0))

    def ssl_loss(self, x_dict: Dict[NodeType, Tensor],
                 edge_index_dict: Dict[EdgeType, Tensor],
                 index_dict: Dict[NodeType, IndexGroups]) -> Tensor:
        r"""Computes :math:`\mathcal{L}_{\text{SSL}}` from two fresh views.

        Args:
            x_dict (Dict[str, torch.Tensor]): The input embeddings.
            edge_index_dict (Dict[Tuple[str, str, str], torch.Tensor]): The
                training graph.
            index_dict (Dict[str, torch.Tensor]): The batch: :obj:`'user'`
                indices and :obj:`'item'` positive indices, or the list
                :obj:`[positive, negative]` (SGL contrasts both).
        """
        user, items = ssl_index(index_dict, self.__class__.__name__)
        if not self.contrast_negatives:
            items = items[:1]
        z1 = self.view(x_dict, edge_index_dict)
        z2 = self.view(x_dict, edge_index_dict)
        tau = self.temperature
        # Official: every term summed over its rows, then divided by |B|.
        loss = table_nce(z1[USER], z2[USER], user, tau)
        loss = loss + table_nce(z1[ITEM], z2[ITEM], torch.cat(items), tau)
        return loss / user.numel()

    def loss_terms(self, x_dict: Dict[NodeType, Tensor],
                   edge_index_dict: Dict[EdgeType, Tensor], batch: TrainBatch
                   ) -> Tuple[Dict[NodeType, Tensor], LossTerms]:
        r"""Returns :obj:`(z_dict, {"rec": BPR, "ssl": SSL})`: BPR on the
        clean-graph forward and :meth:`ssl_loss` of the batch."""
        z_dict, terms = super().loss_terms(x_dict, edge_index_dict, batch)
        terms['ssl'] = self.ssl_loss(x_dict, edge_index_dict,
                                     batch_index(batch))
        return z_dict, terms

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.embedding_dim}, '
                f'num_layers={self.num_layers}, '
                f'edge_drop_rate={self.edge_drop_rate}, '
                f'temperature={self.temperature})')
