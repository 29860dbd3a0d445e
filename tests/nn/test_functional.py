import pytest
import torch
import torch.nn.functional as F

from rlmrec_pyg.nn import functional
from rlmrec_pyg.nn.functional import info_nce, logsumexp_scores


def test_info_nce_with_counts_equals_the_expanded_batch():
    # A batch with repeated rows, and the same batch de-duplicated with
    # multiplicities: one value, one gradient.
    torch.manual_seed(0)
    z, k = torch.randn(6, 4, requires_grad=True), torch.randn(6, 4)
    index = torch.tensor([0, 3, 3, 5, 3, 1, 0])
    full = info_nce(z[index], k[index], None, 0.3)  # in-batch, duplicates
    uniq, count = index.unique(return_counts=True)
    dedup = info_nce(z[uniq], k[uniq], None, 0.3, count, count)
    assert torch.allclose(full, dedup, atol=1e-6)
    g_full, = torch.autograd.grad(full, z)
    g_dedup, = torch.autograd.grad(dedup, z)
    assert torch.allclose(g_full, g_dedup, atol=1e-6)
    # Against all candidates (target ids): only the anchors repeat.
    full = info_nce(z[index], k, index, 0.5)
    dedup = info_nce(z[uniq], k, uniq, 0.5, count)
    assert torch.allclose(full, dedup, atol=1e-6)


@pytest.mark.parametrize('store', [True, False])
@pytest.mark.parametrize('bound', [None, 'tight', 'wide'])
def test_logsumexp_scores_kept_recomputed_and_shifted(store, bound,
                                                      monkeypatch):
    # Every CPU path against torch.logsumexp of the full score matrix
    # (double precision; blocks that do not divide the rows, a
    # per-candidate bias, the gradient of a weighted sum): the exponentials
    # kept for the backward or recomputed in blocks (a budget of 0 bytes),
    # shifted by each row's maximum (no bound, or a bound too wide) or not
    # shifted, the bias then entering as column weights (a bound the scores
    # respect). A wrong shift, a dropped row or column weight or a
    # transposed product changes a value or a gradient.
    if not store:
        monkeypatch.setattr(functional, 'STORE_SCORES_BYTES', 0)
    gen = torch.Generator().manual_seed(2)
    q = F.normalize(torch.randn(29, 6, generator=gen, dtype=torch.double),
                    dim=-1).mul(4.0).requires_grad_()
    k = F.normalize(torch.randn(17, 6, generator=gen, dtype=torch.double),
                    dim=-1).requires_grad_()
    bias = torch.rand(17, generator=gen, dtype=torch.double).mul(3).log()
    w = torch.rand(29, generator=gen, dtype=torch.double)
    limit = {None: None, 'tight': 4.0, 'wide': 100.0}[bound]
    shifts = []
    real = functional._LogSumExp.apply

    def spy(*args):
        shifts.append(args[3])
        return real(*args)

    monkeypatch.setattr(functional._LogSumExp, 'apply', spy)
    for b in (None, bias):
        ref = torch.logsumexp(q @ k.t() + (0 if b is None else b), dim=-1)
        out = logsumexp_scores(q, k, b, block=8, bound=limit)
        assert torch.allclose(out, ref)
        g_ref = torch.autograd.grad((w * ref).sum(), (q, k))
        g_out = torch.autograd.grad((w * out).sum(), (q, k))
        for a, c in zip(g_ref, g_out):
            assert torch.allclose(a, c)
        assert torch.autograd.gradcheck(
            lambda q, k: logsumexp_scores(q, k, b, block=8, bound=limit),
            (q, k))
    # No row maxima exactly when the bound allows it; the largest bias is
    # added back to the logarithm.
    if bound == 'tight':
        assert shifts[0] == 0.0
        assert shifts[-1] == pytest.approx(float(bias.max()))
    else:
        assert set(shifts) == {None}


def test_logsumexp_scores_constant_shift_is_finite_at_the_extremes():
    # Cosine scores at 1 / tau = 40, exponentiated with no shift: rows
    # whose scores all sit at either end keep a finite log-sum-exp and
    # gradient in float32.
    q = torch.tensor([[-40.0, 0.0], [40.0, 0.0]], requires_grad=True)
    k = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    out = logsumexp_scores(q, k, bound=40.0)
    ref = torch.logsumexp(q @ k.t(), dim=-1)
    assert torch.isfinite(out).all()
    assert torch.allclose(out, ref)
    out.sum().backward()
    assert torch.isfinite(q.grad).all()


def test_logsumexp_scores_gradient_of_either_side_alone():
    # RLMRec-Gen's semantic side needs no gradient (none is computed); the
    # query's gradient is the same as when both sides need one, and the
    # key's is there when asked.
    gen = torch.Generator().manual_seed(3)
    q = torch.randn(9, 5, generator=gen, requires_grad=True)
    k = torch.randn(7, 5, generator=gen)
    g1, = torch.autograd.grad(logsumexp_scores(q, k).sum(), q)
    k2 = k.clone().requires_grad_()
    g2, gk = torch.autograd.grad(logsumexp_scores(q, k2).sum(), (q, k2))
    assert torch.allclose(g1, g2) and gk.abs().sum() > 0


def test_logsumexp_scores_second_backward_after_the_buffer_is_reused():
    # The kept exponentials go back to a pool after the backward; a second
    # backward through a retained graph, after another call took that
    # buffer and overwrote it, must recompute them (not read the reused
    # buffer), and still give the same gradient.
    gen = torch.Generator().manual_seed(4)
    q = torch.randn(40, 8, generator=gen, requires_grad=True)
    k = torch.randn(30, 8, generator=gen, requires_grad=True)
    out = logsumexp_scores(q, k, bound=None)
    first = torch.autograd.grad(out.sum(), (q, k), retain_graph=True)
    other = torch.randn(40, 8, generator=gen).mul(5).requires_grad_()
    logsumexp_scores(other, k.detach()).sum().backward()  # reuses it
    second = torch.autograd.grad(out.sum(), (q, k))
    for a, b in zip(first, second):
        assert torch.allclose(a, b)
    assert functional._EXPS.free  # the buffers did go back to the pool


def test_buffer_pool_reuses_the_smallest_fitting_buffer_and_stays_bounded():
    pool = functional._BufferPool(max_buffers=2, headroom=1.0)
    like = torch.empty(0)
    a, b = pool.take(4, 5, like), pool.take(2, 3, like)
    pool.give(a)
    pool.give(b)
    c = pool.take(2, 2, like)  # the 6-element buffer, not the 20
    assert c._base.numel() == 6 and c.shape == (2, 2)
    pool.give(c)
    pool.give(pool.take(10, 10, like))  # a third buffer: the smallest goes
    assert sorted(t.numel() for t in pool.free) == [20, 100]
