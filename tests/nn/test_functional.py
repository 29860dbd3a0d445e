import torch

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


def test_logsumexp_scores_matches_the_full_matrix():
    # Blocks that do not divide the rows, a per-candidate bias, and the
    # gradient of a weighted sum, against torch.logsumexp of the full
    # score matrix (double precision).
    gen = torch.Generator().manual_seed(1)
    q = torch.randn(37, 5, generator=gen, dtype=torch.double,
                    requires_grad=True)
    k = torch.randn(23, 5, generator=gen, dtype=torch.double,
                    requires_grad=True)
    bias = torch.rand(23, generator=gen, dtype=torch.double).log()
    w = torch.rand(37, generator=gen, dtype=torch.double)
    for b in (None, bias):
        ref = torch.logsumexp(q @ k.t() + (0 if b is None else b), dim=-1)
        out = logsumexp_scores(q, k, b, block=8)
        assert torch.allclose(out, ref)
        g_ref = torch.autograd.grad((w * ref).sum(), (q, k))
        g_out = torch.autograd.grad((w * out).sum(), (q, k))
        for a, c in zip(g_ref, g_out):
            assert torch.allclose(a, c)
    assert torch.autograd.gradcheck(
        lambda q, k: logsumexp_scores(q, k, bias, block=8), (q, k))
