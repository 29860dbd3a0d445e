r"""One linear propagation step
:math:`\mathbf{E}^{(l+1)} = \hat{\mathbf{A}} \mathbf{E}^{(l)}` over the
normalised user-item adjacency (LightGCN / GCCF;
docs/parity.md#normalised-adjacency)."""
import weakref
from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.typing import Adj, OptTensor, SparseTensor
from torch_geometric.utils import is_torch_sparse_tensor, spmm

from rlmrec_pyg.nn.conv.bipartite_adjacency import BipartiteAdjacency


class _CSRMatmul(torch.autograd.Function):
    r"""Computes :obj:`adj_t @ x` with a backward pass :obj:`adj @ grad`
    that reuses a precomputed CSR transpose :obj:`adj` (the autograd of
    :obj:`torch.sparse.mm` on CSR inputs is slow on CPU). No gradient flows
    into the adjacency values: use the :obj:`edge_index` or
    :class:`SparseTensor` form for learnable edge weights."""
    @staticmethod
    def forward(ctx: Any, adj_t: Tensor, adj: Tensor, x: Tensor) -> Tensor:
        ctx.adj = adj
        return adj_t @ x

    @staticmethod
    def backward(ctx: Any,
                 grad_out: Tensor) -> Tuple[None, None, Optional[Tensor]]:
        grad_x = ctx.adj @ grad_out if ctx.needs_input_grad[2] else None
        return None, None, grad_x


class BipartiteConv(MessagePassing):
    r"""The parameter-free propagation of LightGCN and GCCF from the
    `"LightGCN: Simplifying and Powering Graph Convolution Network for
    Recommendation" <https://arxiv.org/abs/2002.02126>`_ and `"Revisiting
    Graph based Collaborative Filtering: A Linear Residual Graph
    Convolutional Network Approach" <https://arxiv.org/abs/2001.10167>`_
    papers, over the stacked user and item embeddings:

    .. math::
        \mathbf{E}^{(l+1)} = \hat{\mathbf{A}} \mathbf{E}^{(l)}

    with :math:`\hat{\mathbf{A}}` a (possibly edge-dropped)
    :class:`~rlmrec_pyg.nn.conv.BipartiteAdjacency`. Like
    :class:`~torch_geometric.nn.conv.LGConv` with :obj:`normalize=False`, it
    accepts three forms of the same operator:

    * :obj:`edge_index` (:obj:`[2, nnz]`) plus :obj:`edge_weight`: gather /
      scatter message passing;
    * a :obj:`torch.sparse_csr` :obj:`adj_t` (row = target), fused; passing
      its transpose :obj:`adj` makes the backward pass one more sparse
      product instead of PyTorch's slow CSR autograd;
    * a :obj:`torch_sparse.SparseTensor` :obj:`adj_t`, fused.

    :meth:`BipartiteAdjacency.to_adj` returns these arguments, and
    :meth:`adjacency` builds (once per graph) the adjacency itself.

    Args:
        self_loops (bool, optional): Normalise :math:`\mathbf{A} +
            \mathbf{I}` instead of :math:`\mathbf{A}` (GCCF).
            (default: :obj:`False`)
        **kwargs (optional): Additional arguments of
            :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F)`, adjacency
        - **output:** node features :math:`(|\mathcal{V}|, F)`
    """
    def __init__(self, self_loops: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault('aggr', 'add')
        super().__init__(**kwargs)
        self.self_loops = self_loops
        self._cache: Optional[Tuple[Any, BipartiteAdjacency]] = None

    def adjacency(self, edge_index: Tensor, num_users: int,
                  num_items: int) -> BipartiteAdjacency:
        r"""Returns the :class:`BipartiteAdjacency` of the interactions
        :obj:`edge_index` (:obj:`[2, E]`, users in row 0), built on the
        first call and reused while the same tensor object (unchanged in
        place) and sizes come back. A different graph gives a new adjacency:
        the cache holds a weak reference to the tensor, so a recycled
        :obj:`id()` can never match."""
        key = (edge_index._version, num_users, num_items)
        if self._cache is not None:
            (ref, old_key), adj = self._cache
            if ref() is edge_index and old_key == key:
                return adj
        adj = BipartiteAdjacency(edge_index, num_users, num_items,
                                 self.self_loops)
        self._cache = ((weakref.ref(edge_index), key), adj)
        return adj

    def __getstate__(self) -> Dict[str, Any]:
        # The adjacency cache holds a weak reference: never pickle it.
        state = super().__getstate__()
        state['_cache'] = None
        return state

    def forward(self, x: Tensor, edge_index: Adj,
                edge_weight: OptTensor = None,
                adj: Optional[Tensor] = None) -> Tensor:
        r"""Runs one propagation step.

        Args:
            x (torch.Tensor): Stacked node embeddings :obj:`[N, F]`.
            edge_index (torch.Tensor or SparseTensor): :obj:`[2, nnz]`
                (source, target) indices, or the sparse :obj:`adj_t`.
            edge_weight (torch.Tensor, optional): Weights of
                :obj:`edge_index` (only for the index form).
                (default: :obj:`None`)
            adj (torch.Tensor, optional): The transpose of a CSR
                :obj:`adj_t`, used by the backward pass.
                (default: :obj:`None`)
        """
        return self.propagate(edge_index, x=x, edge_weight=edge_weight,
                              adj=adj)

    def message(self, x_j: Tensor, edge_weight: OptTensor) -> Tensor:
        return x_j if edge_weight is None else edge_weight.view(-1, 1) * x_j

    def message_and_aggregate(self, edge_index: Adj, x: Tensor,
                              adj: Optional[Tensor]) -> Tensor:
        if adj is not None and is_torch_sparse_tensor(edge_index):
            return _CSRMatmul.apply(edge_index, adj, x)
        if isinstance(edge_index, SparseTensor):
            # `torch_sparse.matmul` directly: PyG's `spmm` routes CPU inputs
            # through `torch.sparse.mm`, whose backward is slow.
            import torch_sparse
            return torch_sparse.matmul(edge_index, x, reduce='sum')
        return spmm(edge_index, x, reduce='sum')

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(self_loops={self.self_loops})'
