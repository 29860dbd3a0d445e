r"""The symmetric-normalised user-item adjacency
:math:`\hat{\mathbf{A}} = \mathbf{D}^{-1/2} \mathbf{A} \mathbf{D}^{-1/2}`
(official ``data_handler_general_cf.py``; docs/parity.md#normalised-adjacency),
built once per graph, with the official edge dropout (``SpAdjEdgeDrop``;
docs/parity.md#lightgcn-edge-dropout)."""
from typing import Any, Dict, Optional

import torch
import torch_geometric.typing
from torch import Tensor
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.typing import SparseStorage, SparseTensor
from torch_geometric.utils import cumsum

from rlmrec_pyg.nn.conv.csr_autograd import CSRPattern, sddmm, spmm

BACKENDS = ('csr', 'sparse_tensor', 'edge_index')


class BipartiteAdjacency:
    r"""The normalised adjacency of a bipartite user-item graph over the
    stacked node set :math:`[\mathcal{U}; \mathcal{I}]` (users first, item
    :math:`i` at row :math:`|\mathcal{U}| + i`):

    .. math::
        \mathbf{A} = \begin{pmatrix} \mathbf{0} & \mathbf{R} \\
        \mathbf{R}^{\top} & \mathbf{0} \end{pmatrix}, \qquad
        \hat{\mathbf{A}} = \mathbf{D}^{-1/2} (\mathbf{A} + \mathbf{I})
        \mathbf{D}^{-1/2}

    with the identity only when :obj:`self_loops=True` (GCCF;
    docs/parity.md#gccf-self-loops)
    and :math:`\mathbf{D}` the degree of the matrix it normalises
    (:func:`~torch_geometric.nn.conv.gcn_conv.gcn_norm`).

    The entries are stored sorted by target node (the CSR layout of
    :obj:`adj_t`), together with the permutation :obj:`perm` that maps every
    entry :math:`(s, t)` to the position of :math:`(t, s)`. The transpose
    needed by the backward pass is then the same structure with permuted
    values, even after edge dropout, so no product ever has to be transposed.

    Args:
        edge_index (torch.Tensor): Training interactions :obj:`[2, E]`
            (row 0 user ids, row 1 item ids).
        num_users (int): Number of users.
        num_items (int): Number of items.
        self_loops (bool, optional): Add the identity before normalising.
            (default: :obj:`False`)
    """
    def __init__(self, edge_index: Tensor, num_users: int, num_items: int,
                 self_loops: bool = False) -> None:
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise ValueError(f"Expected 'edge_index' of shape [2, E] in "
                             f"'{self.__class__.__name__}' (got "
                             f"{list(edge_index.size())})")
        if edge_index.numel() > 0 and (
                int(edge_index.min()) < 0
                or int(edge_index[0].max()) >= num_users
                or int(edge_index[1].max()) >= num_items):
            raise ValueError(
                f"'edge_index' holds ids out of range in "
                f"'{self.__class__.__name__}' (expected users < {num_users} "
                f"and items < {num_items}, got max user "
                f"{int(edge_index[0].max())} and max item "
                f"{int(edge_index[1].max())})")
        self.num_users, self.num_items = num_users, num_items
        self.self_loops = self_loops
        num_nodes = num_users + num_items
        user, item = edge_index[0].long(), edge_index[1].long() + num_users
        index = torch.stack([torch.cat([user, item]), torch.cat([item, user])])
        index, weight = gcn_norm(index, None, num_nodes,
                                 add_self_loops=self_loops)
        assert weight is not None
        # Sort by (target, source): CSR of `adj_t` (row = target).
        key = index[1] * num_nodes + index[0]
        key, order = key.sort()
        self.edge_index = index[:, order]  # [2, nnz] (source, target)
        self.edge_weight = weight[order]  # [nnz]
        self.perm = torch.searchsorted(
            key, self.edge_index[0] * num_nodes + self.edge_index[1])
        self.rowptr = cumsum(torch.bincount(self.edge_index[1],
                                            minlength=num_nodes))
        self.num_nodes = num_nodes

    def edge_dropout(self, p: float,
                     generator: Optional[torch.Generator] = None) -> Tensor:
        r"""Returns the edge weights with every stored entry kept with
        probability :math:`1 - p`, independently (so :math:`(u, i)` and
        :math:`(i, u)` are dropped independently) and **without**
        :math:`1/(1-p)` rescaling, as the official ``SpAdjEdgeDrop``."""
        mask = torch.rand(self.edge_weight.size(), generator=generator,
                          device=self.edge_weight.device) >= p
        return self.edge_weight * mask

    def to_adj(self, backend: str = 'csr',
               edge_weight: Optional[Tensor] = None) -> Dict[str, Any]:
        r"""Returns the keyword arguments of
        :meth:`~rlmrec_pyg.nn.conv.BipartiteConv.forward` for a backend:
        :obj:`"csr"` (a :obj:`torch.sparse_csr` :obj:`adj_t` and its
        transpose), :obj:`"sparse_tensor"` (a :obj:`torch_sparse`
        :class:`SparseTensor`) or :obj:`"edge_index"` (indices + weights).

        Args:
            backend (str, optional): The layout. (default: :obj:`"csr"`)
            edge_weight (torch.Tensor, optional): Weights replacing the
                stored ones, *e.g.*, from :meth:`edge_dropout`.
                (default: :obj:`None`)
        """
        weight = self.edge_weight if edge_weight is None else edge_weight
        size = (self.num_nodes, self.num_nodes)
        col = self.edge_index[0]
        if backend == 'csr':
            adj_t = torch.sparse_csr_tensor(self.rowptr, col, weight, size,
                                            check_invariants=False)
            adj = torch.sparse_csr_tensor(self.rowptr, col, weight[self.perm],
                                          size, check_invariants=False)
            return dict(edge_index=adj_t, adj=adj)
        if backend == 'sparse_tensor':
            if not torch_geometric.typing.WITH_TORCH_SPARSE:
                raise ImportError("Backend 'sparse_tensor' requires "
                                  "'torch_sparse'")
            # The structure is symmetric: `colptr == rowptr` and the
            # CSR-to-CSC permutation is `perm`, so the backward pass of
            # `torch_sparse.matmul` needs no sort.
            storage = SparseStorage(row=self.edge_index[1], rowptr=self.rowptr,
                                    col=col, value=weight, sparse_sizes=size,
                                    colptr=self.rowptr, csr2csc=self.perm,
                                    is_sorted=True, trust_data=True)
            adj_t = SparseTensor.from_storage(storage)
            return dict(edge_index=adj_t)
        if backend == 'edge_index':
            return dict(edge_index=self.edge_index, edge_weight=weight)
        raise ValueError(f"Unknown backend '{backend}' (choose from "
                         f"{list(BACKENDS)})")

    @property
    def pattern(self) -> CSRPattern:
        r"""The sparsity pattern (row = target) and its transpose
        (:obj:`perm`), for :func:`~rlmrec_pyg.nn.conv.csr_autograd.spmm` and
        :func:`~rlmrec_pyg.nn.conv.csr_autograd.sddmm`."""
        return CSRPattern.symmetric(self.rowptr, self.edge_index[0],
                                    self.perm)

    def matmul(self, x: Tensor, edge_weight: Tensor) -> Tensor:
        r"""Returns :math:`\mathbf{W} \mathbf{X}`, :math:`\mathbf{W}` this
        structure holding :obj:`edge_weight` (one weight per stored entry,
        in :obj:`edge_index` order, row = target), differentiable in both
        :obj:`x` and :obj:`edge_weight` and fused on the CSR layout (the
        weights' gradient is an edge-wise dot, that of :obj:`x` a product
        with the transpose)."""
        return spmm(self.pattern, edge_weight, x)

    def edge_dot(self, x: Tensor) -> Tensor:
        r"""Returns :math:`\mathbf{x}_t^{\top} \mathbf{x}_s` for every
        stored entry :math:`(s, t)` (:obj:`[nnz]`, :obj:`edge_index`
        order), differentiable in :obj:`x` by CSR products."""
        return sddmm(self.pattern, x, x)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_users={self.num_users}, '
                f'num_items={self.num_items}, nnz={self.edge_weight.numel()}, '
                f'self_loops={self.self_loops})')
