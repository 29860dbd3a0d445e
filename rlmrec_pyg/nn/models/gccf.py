r"""GCCF (LR-GCCF) as used by RLMRec (official ``gccf.py``;
docs/parity.md#gccf-readout)."""
from typing import Dict, Optional

import torch
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


class GCCF(Objective):
    r"""The linear residual graph convolution encoder from the `"Revisiting
    Graph based Collaborative Filtering: A Linear Residual Graph
    Convolutional Network Approach" <https://arxiv.org/abs/2001.10167>`_
    paper, in the form RLMRec's official code trains it (`"Representation
    Learning with Large Language Models for Recommendation"
    <https://arxiv.org/abs/2310.15950>`_):

    .. math::
        \mathbf{E}^{(l+1)} = \hat{\mathbf{A}} \mathbf{E}^{(l)}, \qquad
        \mathbf{Z} = \mathbf{E}^{(0)} \,\Vert\, \mathbf{E}^{(1)} \,\Vert\,
        \cdots \,\Vert\, \mathbf{E}^{(L)}

    with :math:`\hat{\mathbf{A}} = \tilde{\mathbf{D}}^{-1/2} (\mathbf{A} +
    \mathbf{I}) \tilde{\mathbf{D}}^{-1/2}`: linear propagation (no weight,
    no activation; the official per-layer weight is created but unused, so
    it is left out) and a concatenated readout of width
    :obj:`out_channels = (L + 1) * d`.
    The official Con/Gen variants propagate **without** self-loops
    (docs/parity.md#gccf-self-loops): pass :obj:`self_loops=False` for
    them.

    Args:
        embedding_dim (int): Size :math:`d` of the input embeddings.
        num_layers (int, optional): Number of layers :math:`L`.
            (default: :obj:`2`)
        self_loops (bool, optional): Normalise :math:`\mathbf{A} +
            \mathbf{I}`. (default: :obj:`True`)
        backend (str, optional): Sparse layout of the propagation:
            :obj:`"csr"`, :obj:`"sparse_tensor"` or :obj:`"edge_index"`.
            :obj:`None` picks :obj:`"csr"`. (default: :obj:`None`)

    Shapes:
        - **input:** :obj:`x_dict` with :math:`(|\mathcal{U}|, d)` and
          :math:`(|\mathcal{I}|, d)`, :obj:`edge_index_dict` holding
          :obj:`('user', 'to', 'item')` :math:`(2, E)`
        - **output:** :obj:`z_dict` with :math:`(|\mathcal{U}|, (L+1) d)`
          and :math:`(|\mathcal{I}|, (L+1) d)`
    """
    def __init__(self, embedding_dim: int, num_layers: int = 2,
                 self_loops: bool = True,
                 backend: Optional[str] = None) -> None:
        super().__init__()
        name = self.__class__.__name__
        self.embedding_dim = embedding_dim
        self.num_layers = num_layers
        self.self_loops = self_loops
        self.backend = check_args(embedding_dim, num_layers, backend, name)
        self.out_channels = (num_layers + 1) * embedding_dim
        self.conv = BipartiteConv(self_loops=self_loops)

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module (there are
        none)."""

    def forward(self, x_dict: Dict[NodeType, Tensor],
                edge_index_dict: Dict[EdgeType, Tensor]
                ) -> Dict[NodeType, Tensor]:
        r"""Returns the concatenated embeddings :obj:`z_dict`."""
        xs = propagate_layers(self.conv, x_dict, edge_index_dict,
                              self.num_layers, self.backend, 0.0,
                              self.__class__.__name__)
        return split(torch.cat(xs, dim=-1), x_dict[USER].size(0))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.embedding_dim}, '
                f'num_layers={self.num_layers}, '
                f'self_loops={self.self_loops})')
