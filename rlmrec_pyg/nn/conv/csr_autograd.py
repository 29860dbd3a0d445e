r"""Differentiable sparse products on a fixed CSR pattern whose **entries
are learned** (DCCF's adaptive graphs, AutoCF's graph-transformer
attention; official ``dccf.py`` and ``autocf.py``).

A :class:`CSRPattern` holds the rows of a sparsity pattern and, once, its
transpose. Every backward pass is then one more CSR product (SpMM) or
sampled product (SDDMM), never the gather / scatter-add of
:obj:`x[index]`, whose backward on the CPU sorts the indices first (it was
~40 % of a DCCF step and ~30 % of an AutoCF step).
"""
from typing import Any, NamedTuple, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.utils import cumsum


class CSRPattern(NamedTuple):
    r"""The sparsity pattern of an :math:`N \times N` matrix in CSR layout
    (:obj:`rowptr`, :obj:`col`; entry :math:`e` in row :math:`r_e`) and of
    its transpose (:obj:`t_rowptr`, :obj:`t_col`), with :obj:`t_perm` the
    entry of the matrix stored at each position of the transpose."""
    rowptr: Tensor
    col: Tensor
    t_rowptr: Tensor
    t_col: Tensor
    t_perm: Tensor

    @classmethod
    def from_edge_index(cls, edge_index: Tensor,
                        num_nodes: int) -> Tuple['CSRPattern', Tensor]:
        r"""Returns the pattern with an entry at :math:`(r, c)` for every
        column :math:`(r, c)` of :obj:`edge_index` (row first), and the
        permutation that sorts :obj:`edge_index` into its entry order."""
        row, col = edge_index
        order = (row * num_nodes + col).argsort()
        row, col = row[order], col[order]
        t_perm = (col * num_nodes + row).argsort()
        return cls(
            cumsum(torch.bincount(row, minlength=num_nodes)), col,
            cumsum(torch.bincount(col, minlength=num_nodes)), row[t_perm],
            t_perm), order

    @classmethod
    def symmetric(cls, rowptr: Tensor, col: Tensor,
                  perm: Tensor) -> 'CSRPattern':
        r"""The pattern of a structurally symmetric matrix, whose transpose
        is itself with entry :math:`(c, r)` at position :obj:`perm[e]` of
        entry :math:`e = (r, c)`."""
        return cls(rowptr, col, rowptr, col, perm)

    def csr(self, value: Tensor) -> Tensor:
        r"""The matrix holding :obj:`value` (one per entry)."""
        n = self.rowptr.numel() - 1
        return torch.sparse_csr_tensor(self.rowptr, self.col, value, (n, n),
                                       check_invariants=False)

    def csr_t(self, value: Tensor) -> Tensor:
        r"""The transpose of :meth:`csr`."""
        n = self.rowptr.numel() - 1
        return torch.sparse_csr_tensor(self.t_rowptr, self.t_col,
                                       value[self.t_perm], (n, n),
                                       check_invariants=False)


def _sddmm(pattern: CSRPattern, a: Tensor, b: Tensor) -> Tensor:
    # <a_r, b_c> for every entry (r, c): a sampled dense-dense product
    # (~6x faster on the CPU than gathering both sides).
    zeros = a.new_zeros(pattern.col.numel())
    return torch.sparse.sampled_addmm(pattern.csr(zeros), a, b.t(),
                                      beta=0.0).values()


class _SpMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, pattern: CSRPattern, value: Tensor,
                x: Tensor) -> Tensor:
        ctx.pattern = pattern
        ctx.save_for_backward(value, x)
        return pattern.csr(value) @ x

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tuple[Optional[Tensor], ...]:
        value, x = ctx.saved_tensors
        grad_value = grad_x = None
        if ctx.needs_input_grad[1]:
            grad_value = _sddmm(ctx.pattern, grad, x)
        if ctx.needs_input_grad[2]:
            grad_x = ctx.pattern.csr_t(value) @ grad
        return None, grad_value, grad_x


class _SDDMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, pattern: CSRPattern, a: Tensor,
                b: Tensor) -> Tensor:
        ctx.pattern = pattern
        ctx.save_for_backward(a, b)
        return _sddmm(pattern, a, b)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tuple[Optional[Tensor], ...]:
        a, b = ctx.saved_tensors
        grad_a = grad_b = None
        if ctx.needs_input_grad[1]:
            grad_a = ctx.pattern.csr(grad) @ b
        if ctx.needs_input_grad[2]:
            grad_b = ctx.pattern.csr_t(grad) @ a
        return None, grad_a, grad_b


def spmm(pattern: CSRPattern, value: Tensor, x: Tensor) -> Tensor:
    r"""Returns :math:`\mathbf{W} \mathbf{X}`, :math:`\mathbf{W}` the
    pattern holding :obj:`value` (:obj:`[nnz]`), differentiable in
    :obj:`value` (:math:`\partial / \partial w_{rc} = \mathbf{g}_r^{\top}
    \mathbf{x}_c`, an SDDMM) and :obj:`x` (:math:`\mathbf{W}^{\top}
    \mathbf{G}`).

    Args:
        pattern (CSRPattern): The sparsity pattern.
        value (torch.Tensor): The entries :obj:`[nnz]`.
        x (torch.Tensor): Dense :obj:`[N, F]`.
    """
    return _SpMM.apply(pattern, value, x)


def sddmm(pattern: CSRPattern, a: Tensor, b: Tensor) -> Tensor:
    r"""Returns :math:`\mathbf{a}_r^{\top} \mathbf{b}_c` for every entry
    :math:`(r, c)` of the pattern (:obj:`[nnz]`), differentiable in both
    (:math:`\mathbf{G} \mathbf{B}` and :math:`\mathbf{G}^{\top}
    \mathbf{A}`, two CSR products).

    Args:
        pattern (CSRPattern): The sparsity pattern.
        a (torch.Tensor): Dense :obj:`[N, F]`.
        b (torch.Tensor): Dense :obj:`[N, F]`.
    """
    return _SDDMM.apply(pattern, a, b)
