r"""DCCF as used by RLMRec (official ``dccf.py``): intent
prototypes, adaptive graphs and a per-layer contrast."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Parameter
from torch_geometric.typing import EdgeType, NodeType
from torch_geometric.utils import scatter

from rlmrec_pyg.nn.conv import BipartiteAdjacency, BipartiteConv
from rlmrec_pyg.nn.functional import info_nce
from rlmrec_pyg.nn.models._propagation import (
    check_args,
    propagate_layers,
    split,
)
from rlmrec_pyg.nn.models.sgl import ssl_index
from rlmrec_pyg.nn.objective import (
    LossTerms,
    Objective,
    TrainBatch,
    batch_index,
    bpr_terms,
)
from rlmrec_pyg.typing import EDGE, USER

ITEM_NORMS = ('users', 'items')


def _in_batch_nce(query: Tensor, key: Tensor, temperature: float) -> Tensor:
    # Summed InfoNCE with the other rows of `key` as negatives.
    return info_nce(query, key, None, temperature) * query.size(0)


def adaptive_weight(z: Tensor, adj: BipartiteAdjacency) -> Tensor:
    r"""Returns the row-normalised adaptive edge weights of DCCF,
    :math:`\alpha_{ts} / \sum_{s'} \alpha_{ts'}` with
    :math:`\alpha_{ts} = (\cos(\mathbf{z}_t, \mathbf{z}_s) + 1) / 2`, for
    every stored entry :math:`(s, t)` of :obj:`adj` (in its
    :obj:`edge_index` order), computed edge-wise
    (:meth:`BipartiteAdjacency.edge_dot`, never :math:`N \times N`)."""
    alpha = (adj.edge_dot(F.normalize(z, dim=-1)) + 1) / 2
    dst = adj.edge_index[1]
    deg = scatter(alpha, dst, dim=0, dim_size=z.size(0), reduce='sum')
    return (alpha / deg[dst]).nan_to_num(0.0, 0.0, 0.0)


class DCCF(Objective):
    r"""The disentangled contrastive collaborative filtering encoder from
    the `"Disentangled Contrastive Collaborative Filtering"
    <https://arxiv.org/abs/2305.02759>`_ paper, in the form RLMRec's official
    code trains it (`"Representation Learning with Large Language Models for
    Recommendation" <https://arxiv.org/abs/2310.15950>`_). Per layer, with
    :math:`\mathbf{E}^{(l)}` the stacked user and item rows:

    .. math::
        \mathbf{Z}^{\text{gnn}} &= \hat{\mathbf{A}} \mathbf{E}^{(l)},
        \qquad \mathbf{Z}^{\text{int}}_{\mathcal{U}} =
        \operatorname{softmax}(\mathbf{E}^{(l)}_{\mathcal{U}}
        \mathbf{W}_u) \mathbf{W}_u^{\top} \;
        (\text{items alike with } \mathbf{W}_i),

        \mathbf{Z}^{\text{gaa}} &= \mathbf{D}_{\alpha}^{-1}
        \mathbf{A}_{\alpha} \mathbf{E}^{(l)}, \quad
        \mathbf{Z}^{\text{iaa}} = \mathbf{D}_{\beta}^{-1} \mathbf{A}_{\beta}
        \mathbf{E}^{(l)}, \quad
        \alpha_{ts} = \tfrac{1}{2}(\cos(\mathbf{z}^{\text{gnn}}_t,
        \mathbf{z}^{\text{gnn}}_s) + 1)

        \mathbf{E}^{(l+1)} &= \mathbf{Z}^{\text{gnn}} + \mathbf{Z}^{\text{int}}
        + \mathbf{Z}^{\text{gaa}} + \mathbf{Z}^{\text{iaa}} + \mathbf{E}^{(l)},
        \qquad \mathbf{Z} = \sum_{l=0}^{L} \mathbf{E}^{(l)}

    (:math:`\beta` alike on :math:`\mathbf{Z}^{\text{int}}`; both only on
    the edges of :math:`\mathbf{A}`). :meth:`ssl_loss` contrasts, at every
    layer, :math:`\mathbf{Z}^{\text{gnn}}` with each of the other three views
    over the **unique** batch users and positive items (in-batch
    negatives), :math:`\sum_l \sum_{x} [\mathrm{NCE}_u +
    \mathrm{NCE}_i]`, returned unweighted as :obj:`"ssl"` by
    :meth:`loss_terms` (official :obj:`cl_weight` :math:`\lambda`: the
    trainer's :obj:`loss_weights["ssl"]`), which reuses the training
    forward's views. The official code divides every item term by the
    number of unique *users* (docs/parity.md#dccf-item-normalisation):
    :obj:`item_norm="users"` reproduces it, :obj:`"items"` is the plain
    mean.

    Args:
        embedding_dim (int): Size :math:`d` of the input embeddings.
        num_layers (int, optional): Number of layers :math:`L`.
            (default: :obj:`2`)
        num_intents (int, optional): Number of intent prototypes :math:`K`.
            (default: :obj:`128`)
        temperature (float, optional): The temperature :math:`\tau`.
            (default: :obj:`0.1`)
        item_norm (str, optional): Denominator of the item terms,
            :obj:`"users"` (official) or :obj:`"items"`.
            (default: :obj:`"users"`)
        backend (str, optional): Sparse layout of the fixed-weight
            propagation (see :class:`~rlmrec_pyg.nn.LightGCN`); the adaptive
            graphs always use :meth:`BipartiteAdjacency.matmul`, whose
            gradient reaches their weights. (default: :obj:`None`)

    Shapes:
        - **input:** :obj:`x_dict` with :math:`(|\mathcal{U}|, d)` and
          :math:`(|\mathcal{I}|, d)`, :obj:`edge_index_dict` holding
          :obj:`('user', 'to', 'item')` :math:`(2, E)`
        - **output:** :obj:`z_dict` with :math:`(|\mathcal{U}|, d)` and
          :math:`(|\mathcal{I}|, d)`
    """
    def __init__(self, embedding_dim: int, num_layers: int = 2,
                 num_intents: int = 128, temperature: float = 0.1,
                 item_norm: str = 'users',
                 backend: Optional[str] = None) -> None:
        super().__init__()
        name = self.__class__.__name__
        self.backend = check_args(embedding_dim, num_layers, backend, name)
        if num_intents <= 0:
            raise ValueError(f"'num_intents' must be positive in '{name}' "
                             f"(got {num_intents})")
        if not temperature > 0:
            raise ValueError(f"'temperature' must be positive in '{name}' "
                             f"(got {temperature})")
        if item_norm not in ITEM_NORMS:
            raise ValueError(f"Unknown 'item_norm' '{item_norm}' in '{name}' "
                             f"(choose from {list(ITEM_NORMS)})")
        self.embedding_dim = self.out_channels = embedding_dim
        self.num_layers = num_layers
        self.num_intents = num_intents
        self.temperature = float(temperature)
        self.item_norm = item_norm
        self.conv = BipartiteConv(self_loops=False)
        self.user_intent = Parameter(torch.empty(embedding_dim, num_intents))
        self.item_intent = Parameter(torch.empty(embedding_dim, num_intents))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets the intent prototypes (Xavier-uniform, official)."""
        torch.nn.init.xavier_uniform_(self.user_intent)
        torch.nn.init.xavier_uniform_(self.item_intent)

    def propagate(
        self, x_dict: Dict[NodeType, Tensor],
        edge_index_dict: Dict[EdgeType, Tensor]
    ) -> Tuple[Tensor, List[Tuple[Tensor, Tensor, Tensor, Tensor]]]:
        r"""Returns the stacked layer-sum readout and, per layer, the views
        :math:`(\mathbf{Z}^{\text{gnn}}, \mathbf{Z}^{\text{int}},
        \mathbf{Z}^{\text{gaa}}, \mathbf{Z}^{\text{iaa}})`."""
        # Zero layers: checks the inputs and stacks them.
        x = propagate_layers(self.conv, x_dict, edge_index_dict, 0,
                             self.backend, 0.0, self.__class__.__name__)[0]
        num_users = x_dict[USER].size(0)
        adj = self.conv.adjacency(edge_index_dict[EDGE], num_users,
                                  x.size(0) - num_users)
        kwargs = adj.to_adj(self.backend)
        out, views = x, []
        for _ in range(self.num_layers):
            z_gnn = self.conv(x, **kwargs)
            z_int = torch.cat([
                torch.softmax(x[:num_users] @ self.user_intent, dim=-1)
                @ self.user_intent.t(),
                torch.softmax(x[num_users:] @ self.item_intent, dim=-1)
                @ self.item_intent.t(),
            ], dim=0)
            z_gaa = adj.matmul(x, adaptive_weight(z_gnn, adj))
            z_iaa = adj.matmul(x, adaptive_weight(z_int, adj))
            x = z_gnn + z_int + z_gaa + z_iaa + x
            out = out + x
            views.append((z_gnn, z_int, z_gaa, z_iaa))
        return out, views

    def forward(
        self, x_dict: Dict[NodeType, Tensor],
        edge_index_dict: Dict[EdgeType, Tensor], return_views: bool = False
    ) -> Union[Dict[NodeType, Tensor], Tuple[Dict[NodeType, Tensor],
                                             List[Tuple[Tensor, ...]]]]:
        r"""Returns the layer-sum embeddings :obj:`z_dict`, and with
        :obj:`return_views=True` the tuple :obj:`(z_dict, views)` (the
        per-layer views of :meth:`propagate`), so that :meth:`ssl_loss` can
        reuse this forward (as :obj:`return_attention_weights` of PyG's
        :class:`~torch_geometric.nn.conv.GATConv`)."""
        out, views = self.propagate(x_dict, edge_index_dict)
        z_dict = split(out, x_dict[USER].size(0))
        return (z_dict, views) if return_views else z_dict

    def ssl_loss(
        self, x_dict: Dict[NodeType, Tensor],
        edge_index_dict: Dict[EdgeType, Tensor],
        index_dict: Dict[NodeType, Union[Tensor, Sequence[Tensor]]],
        views: Optional[List[Tuple[Tensor, ...]]] = None,
    ) -> Tensor:
        r"""Computes the per-layer contrast.

        Args:
            x_dict (Dict[str, torch.Tensor]): The input embeddings.
            edge_index_dict (Dict[Tuple[str, str, str], torch.Tensor]): The
                training graph.
            index_dict (Dict[str, torch.Tensor]): The batch: :obj:`'user'`
                indices and :obj:`'item'` positive indices (or the list
                :obj:`[positive, negative]`; negatives are not used).
            views (List, optional): The views of the training forward
                (:obj:`forward(..., return_views=True)`), as the official
                code shares one forward; :obj:`None` recomputes them from
                :obj:`x_dict` (deterministic: same value and gradient).
                (default: :obj:`None`)
        """
        user, items = ssl_index(index_dict, self.__class__.__name__)
        user = user.unique()
        item = items[0].unique() + x_dict[USER].size(0)  # stacked rows
        num_items = user.numel() if self.item_norm == 'users' else item.numel()
        if views is None:
            _, views = self.propagate(x_dict, edge_index_dict)
        user_loss = item_loss = x_dict[USER].new_zeros(())
        tau = self.temperature
        for z_gnn, *others in views:
            for z in others:
                user_loss = user_loss + _in_batch_nce(z_gnn[user], z[user],
                                                      tau)
                item_loss = item_loss + _in_batch_nce(z_gnn[item], z[item],
                                                      tau)
        return user_loss / user.numel() + item_loss / num_items

    def loss_terms(self, x_dict: Dict[NodeType, Tensor],
                   edge_index_dict: Dict[EdgeType, Tensor], batch: TrainBatch
                   ) -> Tuple[Dict[NodeType, Tensor], LossTerms]:
        r"""Returns :obj:`(z_dict, {"rec": BPR, "ssl": SSL})` from one
        forward (the contrast reuses its views, as the official code)."""
        z_dict, views = self(x_dict, edge_index_dict, return_views=True)
        terms = bpr_terms(z_dict, batch)
        terms['ssl'] = self.ssl_loss(x_dict, edge_index_dict,
                                     batch_index(batch), views=views)
        return z_dict, terms

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.embedding_dim}, '
                f'num_layers={self.num_layers}, '
                f'num_intents={self.num_intents}, '
                f'temperature={self.temperature}, '
                f'item_norm={self.item_norm!r})')
