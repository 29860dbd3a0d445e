r"""The CSR autograd ops of DCCF and AutoCF on the device: SpMM, SDDMM and
the transposes their backward passes use, against dense references written
from the definitions, values and gradients, and
:func:`torch.autograd.gradcheck` in float64."""
import pytest
import torch

from rlmrec_pyg.nn import BipartiteAdjacency
from rlmrec_pyg.nn.conv.csr_autograd import CSRPattern, sddmm, spmm
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.typing import EDGE

pytestmark = pytest.mark.cuda


def general_pattern(device):
    r"""A pattern that is not symmetric, with a repeated row and an empty
    one (its transpose comes from sorting, not from symmetry), and its
    entries' :obj:`(row, col)`."""
    edge_index = torch.tensor([[2, 0, 2, 3, 0, 4, 1], [1, 3, 0, 3, 0, 1, 4]],
                              device=device)
    pattern, order = CSRPattern.from_edge_index(edge_index, 6)
    row, col = edge_index[:, order]
    return pattern, row, col


def bipartite_pattern(device):
    r"""The symmetric pattern of a normalised user-item adjacency (DCCF's
    adaptive graphs), entry :math:`(t, s)` for the stored :math:`(s, t)`."""
    data = get_random_rec_data(8, 10, 40, sem_channels=0, with_text=False)
    adj = BipartiteAdjacency(data[EDGE].edge_index.to(device), 8, 10)
    src, dst = adj.edge_index
    return adj.pattern, dst, src


PATTERNS = {'general': general_pattern, 'bipartite': bipartite_pattern}


def dense(value, row, col, size):
    r""":math:`\mathbf{W}` with :math:`W_{rc}` = :obj:`value` of entry
    :math:`(r, c)`, differentiable in :obj:`value`."""
    out = value.new_zeros(size, size)
    return out.index_put((row, col), value)


def randn(*size, device, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(*size, generator=gen, dtype=torch.float64)
    return x.to(device).requires_grad_()


def grads(out, inputs, seed):
    r"""The gradients of :math:`\langle \mathbf{G}, \text{out} \rangle`
    for a fixed random :math:`\mathbf{G}`."""
    weight = randn(*out.size(), device=out.device, seed=seed).detach()
    return torch.autograd.grad((out * weight).sum(), inputs)


def assert_matches(out, want, inputs, seed):
    r""":obj:`out` equals the dense reference :obj:`want`, and so do their
    gradients with respect to :obj:`inputs` (:func:`grads`)."""
    torch.testing.assert_close(out, want)
    for got, ref in zip(grads(out, inputs, seed), grads(want, inputs, seed)):
        torch.testing.assert_close(got, ref)


@pytest.mark.parametrize('kind', list(PATTERNS))
def test_spmm_values_and_gradients(kind, device):
    # W X and its gradients: W^T G for X (the transpose's CSR) and
    # <g_r, x_c> for the entries (an SDDMM). Catches: the backward using
    # W instead of its transpose (mutation tried: `ctx.pattern.csr_t(value)
    # @ grad` -> `ctx.pattern.csr(value) @ grad`), entries misplaced by the
    # transpose's permutation.
    pattern, row, col = PATTERNS[kind](device)
    n = pattern.rowptr.numel() - 1
    value = randn(row.numel(), device=device, seed=1)
    x = randn(n, 3, device=device, seed=2)
    assert_matches(spmm(pattern, value, x), dense(value, row, col, n) @ x,
                   (value, x), 3)


@pytest.mark.parametrize('kind', list(PATTERNS))
def test_sddmm_values_and_gradients(kind, device):
    # <a_r, b_c> per entry and its gradients G B and G^T A. Catches: the
    # two sides swapped in the backward (mutation tried: `grad_b =
    # ctx.pattern.csr_t(grad) @ a` -> `ctx.pattern.csr(grad) @ a`).
    pattern, row, col = PATTERNS[kind](device)
    n = pattern.rowptr.numel() - 1
    a = randn(n, 3, device=device, seed=4)
    b = randn(n, 3, device=device, seed=5)
    assert_matches(sddmm(pattern, a, b), (a @ b.t())[row, col], (a, b), 6)


@pytest.mark.parametrize('kind', list(PATTERNS))
def test_transpose_is_the_transpose(kind, device):
    # Catches: a wrong `t_perm` / `t_rowptr` (the backward of both ops).
    pattern, row, col = PATTERNS[kind](device)
    n = pattern.rowptr.numel() - 1
    value = randn(row.numel(), device=device, seed=7).detach()
    assert torch.equal(pattern.csr(value).to_dense(),
                       dense(value, row, col, n))
    assert torch.equal(pattern.csr_t(value).to_dense(),
                       dense(value, row, col, n).t())


@pytest.mark.parametrize('kind', list(PATTERNS))
def test_gradcheck(kind, device):
    # Finite differences in float64 on the device. Catches any backward
    # that disagrees with its forward, whatever the dense references say.
    pattern, row, _ = PATTERNS[kind](device)
    n = pattern.rowptr.numel() - 1
    value = randn(row.numel(), device=device, seed=8)
    a = randn(n, 2, device=device, seed=9)
    b = randn(n, 2, device=device, seed=10)
    assert torch.autograd.gradcheck(lambda v, x: spmm(pattern, v, x),
                                    (value, a))
    assert torch.autograd.gradcheck(lambda x, y: sddmm(pattern, x, y),
                                    (a, b))
