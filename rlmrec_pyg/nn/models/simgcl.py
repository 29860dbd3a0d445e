r"""SimGCL as used by RLMRec (official ``simgcl.py``;
docs/parity.md#simgcl-noise): LightGCN plus an InfoNCE between two
noise-perturbed views."""
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.typing import EdgeType, NodeType

from rlmrec_pyg.nn.models._propagation import propagate_layers, split
from rlmrec_pyg.nn.models.sgl import SGL
from rlmrec_pyg.typing import EDGE, USER


class SimGCL(SGL):
    r"""The simple graph contrastive learning encoder from the `"Are Graph
    Augmentations Necessary? Simple Graph Contrastive Learning for
    Recommendation" <https://arxiv.org/abs/2112.08679>`_ paper, in the form
    RLMRec's official code trains it (`"Representation Learning with Large
    Language Models for Recommendation"
    <https://arxiv.org/abs/2310.15950>`_).

    :meth:`forward` is LightGCN's layer-sum readout over the clean graph
    (no edge dropout anywhere). Each view of :meth:`ssl_loss` adds fresh
    uniform noise after **every** layer, the last included, and propagates
    the perturbed rows:

    .. math::
        \mathbf{E}^{(l+1)} = \hat{\mathbf{A}} \mathbf{E}^{(l)} +
        \epsilon \operatorname{sign}(\hat{\mathbf{A}} \mathbf{E}^{(l)})
        \odot \frac{\mathbf{u}}{\|\mathbf{u}\|_2}, \quad
        \mathbf{u} \sim \mathcal{U}(0, 1)^d, \qquad
        \mathbf{Z} = \sum_{l=0}^{L} \mathbf{E}^{(l)}

    The readout sums all layers including the unperturbed
    :math:`\mathbf{E}^{(0)}` (the SimGCL paper excludes it and averages).
    The loss is :class:`~rlmrec_pyg.nn.SGL`'s InfoNCE with all users / items
    of view 2 as candidates, over the batch users and **positive** items
    only (official: no negative-item term), returned unweighted as
    :obj:`"ssl"` (official :obj:`cl_weight`: the trainer's
    :obj:`loss_weights["ssl"]`).

    Args:
        embedding_dim (int): Size :math:`d` of the input embeddings.
        num_layers (int, optional): Number of layers :math:`L`.
            (default: :obj:`3`)
        eps (float, optional): The noise magnitude :math:`\epsilon`.
            (default: :obj:`0.9`)
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
    contrast_negatives: bool = False

    def __init__(self, embedding_dim: int, num_layers: int = 3,
                 eps: float = 0.9, temperature: float = 0.2,
                 backend: Optional[str] = None) -> None:
        super().__init__(embedding_dim, num_layers, 0.0, temperature, backend)
        if eps < 0:
            raise ValueError(f"'eps' must be non-negative in "
                             f"'{self.__class__.__name__}' (got {eps})")
        self.eps = float(eps)

    def view(self, x_dict: Dict[NodeType, Tensor],
             edge_index_dict: Dict[EdgeType, Tensor]
             ) -> Dict[NodeType, Tensor]:
        r"""Returns one perturbed view (fresh noise at every layer)."""
        # Zero layers: checks the inputs and stacks them.
        x = propagate_layers(self.conv, x_dict, edge_index_dict, 0,
                             self.backend, 0.0, self.__class__.__name__)[0]
        num_users = x_dict[USER].size(0)
        adj = self.conv.adjacency(edge_index_dict[EDGE], num_users,
                                  x.size(0) - num_users)
        kwargs = adj.to_adj(self.backend)
        out = x
        for _ in range(self.num_layers):
            x = self.conv(x, **kwargs)
            noise = F.normalize(torch.rand_like(x), dim=-1)
            x = x + self.eps * torch.sign(x) * noise
            out = out + x
        return split(out, num_users)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.embedding_dim}, '
                f'num_layers={self.num_layers}, eps={self.eps}, '
                f'temperature={self.temperature})')
