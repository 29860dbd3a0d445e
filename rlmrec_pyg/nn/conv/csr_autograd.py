r"""Differentiable edge-wise products over a :class:`BipartiteAdjacency`
whose **edge values are learned** (DCCF's adaptive graphs, spec §5.5).

Both use the stored CSR layout (entries sorted by target) and its
transpose permutation :obj:`perm`: every backward pass is one more CSR
product or sampled product (SDDMM), never the gather / scatter-add of
:obj:`x[index]`, whose backward on the CPU sorts the indices first (it was
~40 % of a DCCF step).
"""
from typing import Any, Optional, Tuple

import torch
from torch import Tensor


def _csr(rowptr: Tensor, col: Tensor, value: Tensor) -> Tensor:
    n = rowptr.numel() - 1
    return torch.sparse_csr_tensor(rowptr, col, value, (n, n),
                                   check_invariants=False)


def _edge_dot(a: Tensor, b: Tensor, rowptr: Tensor, col: Tensor) -> Tensor:
    # <a_row(e), b_col(e)> for every entry e: a sampled dense-dense product
    # (SDDMM; ~6x faster on the CPU than gathering both sides).
    pattern = _csr(rowptr, col, a.new_zeros(col.numel()))
    return torch.sparse.sampled_addmm(pattern, a, b.t(), beta=0.0).values()


class _WeightedMatmul(torch.autograd.Function):
    # out_t = sum_e value_e x_{col(e)} over the entries e of row t.
    @staticmethod
    def forward(ctx: Any, rowptr: Tensor, col: Tensor, perm: Tensor,
                value: Tensor, x: Tensor) -> Tensor:
        ctx.save_for_backward(rowptr, col, perm, value, x)
        return _csr(rowptr, col, value) @ x

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tuple[Optional[Tensor], ...]:
        rowptr, col, perm, value, x = ctx.saved_tensors
        grad_value = grad_x = None
        if ctx.needs_input_grad[3]:
            grad_value = _edge_dot(grad, x, rowptr, col)
        if ctx.needs_input_grad[4]:
            # The transpose: the same structure, values permuted.
            grad_x = _csr(rowptr, col, value[perm]) @ grad
        return None, None, None, grad_value, grad_x


class _EdgeDot(torch.autograd.Function):
    # out_e = <x_row(e), x_col(e)> on a structurally symmetric matrix.
    @staticmethod
    def forward(ctx: Any, rowptr: Tensor, col: Tensor, perm: Tensor,
                x: Tensor) -> Tensor:
        ctx.save_for_backward(rowptr, col, perm, x)
        return _edge_dot(x, x, rowptr, col)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tuple[Optional[Tensor], ...]:
        rowptr, col, perm, x = ctx.saved_tensors
        # d/dx_t sum_e g_e <x_row, x_col> = sum_s (g_ts + g_st) x_s.
        grad_x = _csr(rowptr, col, grad + grad[perm]) @ x
        return None, None, None, grad_x


def weighted_matmul(rowptr: Tensor, col: Tensor, perm: Tensor,
                    value: Tensor, x: Tensor) -> Tensor:
    r"""Returns :math:`\mathbf{W} \mathbf{X}` for the CSR matrix
    :math:`\mathbf{W}` with entries :obj:`value` in CSR layout,
    differentiable in :obj:`value` (:math:`\partial / \partial w_{ts} =
    \mathbf{g}_t^{\top} \mathbf{x}_s`) and :obj:`x` (:math:`\mathbf{W}^{\top}
    \mathbf{G}`, through :obj:`perm`, the position of every transposed
    entry of a structurally symmetric matrix).

    Args:
        rowptr (torch.Tensor): CSR row pointers :obj:`[N + 1]`.
        col (torch.Tensor): Column of every entry :obj:`[nnz]`.
        perm (torch.Tensor): Position of :math:`(s, t)` for every entry
            :math:`(t, s)` :obj:`[nnz]`.
        value (torch.Tensor): The entries :obj:`[nnz]`.
        x (torch.Tensor): Dense :obj:`[N, F]`.
    """
    return _WeightedMatmul.apply(rowptr, col, perm, value, x)


def edge_dot(rowptr: Tensor, col: Tensor, perm: Tensor, x: Tensor) -> Tensor:
    r"""Returns :math:`\mathbf{x}_t^{\top} \mathbf{x}_s` for every entry
    :math:`(t, s)` of a structurally symmetric CSR matrix (:obj:`[nnz]`),
    with the backward pass :math:`(\mathbf{G} + \mathbf{G}^{\top})
    \mathbf{X}` as one CSR product. Arguments as in
    :func:`weighted_matmul`."""
    return _EdgeDot.apply(rowptr, col, perm, x)
