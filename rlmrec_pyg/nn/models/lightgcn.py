r"""LightGCN as used by RLMRec (official ``lightgcn.py``;
docs/parity.md#lightgcn-edge-dropout)."""
from typing import Dict, Optional

from torch import Tensor
from torch_geometric.typing import EdgeType, NodeType

from rlmrec_pyg.nn.conv import BipartiteConv
from rlmrec_pyg.nn.objective import Objective
from rlmrec_pyg.nn.models._propagation import (
    check_args,
    propagate_layers,
    split,
)
from rlmrec_pyg.typing import USER


class LightGCN(Objective):
    r"""The LightGCN encoder from the `"LightGCN: Simplifying and Powering
    Graph Convolution Network for Recommendation"
    <https://arxiv.org/abs/2002.02126>`_ paper, in the form RLMRec's
    official code trains it (the "Base" rows of the `"Representation
    Learning with Large Language Models for Recommendation"
    <https://arxiv.org/abs/2310.15950>`_ paper):

    .. math::
        \mathbf{E}^{(l+1)} = \hat{\mathbf{A}}' \mathbf{E}^{(l)}, \qquad
        \mathbf{Z} = \sum_{l=0}^{L} \mathbf{E}^{(l)}

    where :math:`\hat{\mathbf{A}} = \mathbf{D}^{-1/2} \mathbf{A}
    \mathbf{D}^{-1/2}` and, in training mode only, :math:`\hat{\mathbf{A}}'`
    keeps every stored entry with probability :math:`1 - p` without
    rescaling (one mask per forward, shared by all layers). The readout is
    the layer **sum**, not the mean of the LightGCN paper (PyG's
    :class:`~torch_geometric.nn.models.LightGCN` with
    :obj:`alpha=torch.ones(L + 1)` gives the same readout).

    The encoder holds no ID embeddings: it maps :obj:`x_dict` (*e.g.*, from
    :class:`~rlmrec_pyg.nn.NodeEmbedding`) to :obj:`z_dict`, like a
    :meth:`~torch_geometric.nn.to_hetero` model. The normalised adjacency is
    built once per graph.

    Args:
        embedding_dim (int): Size :math:`d` of the input embeddings.
        num_layers (int, optional): Number of layers :math:`L`.
            (default: :obj:`3`)
        edge_drop_rate (float, optional): Probability :math:`p` of dropping
            an adjacency entry during training (official :obj:`keep_rate`
            0.8). (default: :obj:`0.2`)
        backend (str, optional): Sparse layout of the propagation:
            :obj:`"csr"`, :obj:`"sparse_tensor"` or :obj:`"edge_index"`.
            :obj:`None` picks :obj:`"csr"`. (default: :obj:`None`)

    Shapes:
        - **input:** :obj:`x_dict` with :math:`(|\mathcal{U}|, d)` and
          :math:`(|\mathcal{I}|, d)`, :obj:`edge_index_dict` holding
          :obj:`('user', 'to', 'item')` :math:`(2, E)`
        - **output:** :obj:`z_dict` with :math:`(|\mathcal{U}|, d)` and
          :math:`(|\mathcal{I}|, d)`
    """
    def __init__(self, embedding_dim: int, num_layers: int = 3,
                 edge_drop_rate: float = 0.2,
                 backend: Optional[str] = None) -> None:
        super().__init__()
        name = self.__class__.__name__
        if not 0.0 <= edge_drop_rate < 1.0:
            raise ValueError(f"'edge_drop_rate' must lie in [0, 1) in "
                             f"'{name}' (got {edge_drop_rate})")
        self.embedding_dim = embedding_dim
        self.num_layers = num_layers
        self.edge_drop_rate = edge_drop_rate
        self.backend = check_args(embedding_dim, num_layers, backend, name)
        self.out_channels = embedding_dim
        self.conv = BipartiteConv(self_loops=False)

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module (there are
        none)."""

    def forward(self, x_dict: Dict[NodeType, Tensor],
                edge_index_dict: Dict[EdgeType, Tensor]
                ) -> Dict[NodeType, Tensor]:
        r"""Returns the layer-sum embeddings :obj:`z_dict`."""
        drop = self.edge_drop_rate if self.training else 0.0
        xs = propagate_layers(self.conv, x_dict, edge_index_dict,
                              self.num_layers, self.backend, drop,
                              self.__class__.__name__)
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return split(out, x_dict[USER].size(0))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.embedding_dim}, '
                f'num_layers={self.num_layers}, '
                f'edge_drop_rate={self.edge_drop_rate})')
