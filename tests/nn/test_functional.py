import torch

from rlmrec_pyg.nn import info_nce


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
