import pytest
import torch
from torch_geometric.nn import LGConv
from torch_geometric.typing import WITH_TORCH_SPARSE

from rlmrec_pyg.nn import BipartiteAdjacency, BipartiteConv
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.typing import EDGE


def dense_adj(edge_index, num_users, num_items, self_loops):
    # docs/parity.md#normalised-adjacency: D^-1/2 (A [+ I]) D^-1/2 over
    # [users; items].
    n = num_users + num_items
    a = torch.zeros(n, n, dtype=torch.float64)
    a[edge_index[0], edge_index[1] + num_users] = 1.0
    a[edge_index[1] + num_users, edge_index[0]] = 1.0
    if self_loops:
        a += torch.eye(n, dtype=torch.float64)
    d = a.sum(1).pow(-0.5)
    d[torch.isinf(d)] = 0.0
    return d.view(-1, 1) * a * d.view(1, -1)


@pytest.mark.parametrize('self_loops', [False, True])
def test_adjacency_matches_dense(self_loops):
    data = get_random_rec_data()
    ei = data[EDGE].edge_index
    adj = BipartiteAdjacency(ei, 20, 30, self_loops)
    assert str(adj).startswith('BipartiteAdjacency(num_users=20')
    out = adj.to_adj('csr')['edge_index'].to_dense().double()
    assert torch.allclose(out, dense_adj(ei, 20, 30, self_loops), atol=1e-6)
    # `perm` maps (s, t) to (t, s).
    src, dst = adj.edge_index
    assert torch.equal(src[adj.perm], dst) and torch.equal(dst[adj.perm], src)


@pytest.mark.parametrize('self_loops', [False, True])
@pytest.mark.parametrize('drop', [False, True])
@pytest.mark.parametrize('backend', ['csr', 'edge_index', 'sparse_tensor'])
def test_propagation_paths_agree(self_loops, drop, backend):
    if backend == 'sparse_tensor' and not WITH_TORCH_SPARSE:
        pytest.skip("'torch_sparse' is not installed")
    data = get_random_rec_data()
    adj = BipartiteAdjacency(data[EDGE].edge_index, 20, 30, self_loops)
    conv = BipartiteConv(self_loops=self_loops)
    assert str(conv) == f'BipartiteConv(self_loops={self_loops})'
    weight = adj.edge_dropout(0.2) if drop else None
    # Reference: the dense (possibly edge-dropped) matrix and its transpose.
    dense = adj.to_adj('csr', weight)['edge_index'].to_dense()
    grad_out = torch.randn(50, 4)
    x = torch.randn(50, 4, requires_grad=True)
    out = conv(x, **adj.to_adj(backend, weight))
    assert torch.allclose(out, dense @ x, atol=1e-6)
    out.backward(grad_out)
    assert torch.allclose(x.grad, dense.t() @ grad_out, atol=1e-6)


def test_matches_lgconv():
    data = get_random_rec_data()
    ei = data[EDGE].edge_index
    adj = BipartiteAdjacency(ei, 20, 30)
    homo = torch.cat([ei + torch.tensor([[0], [20]]),
                      (ei + torch.tensor([[0], [20]])).flip(0)], dim=1)
    x = torch.randn(50, 8)
    out = BipartiteConv()(x, **adj.to_adj('csr'))
    assert torch.allclose(out, LGConv()(x, homo), atol=1e-6)


def test_edge_dropout():
    data = get_random_rec_data(num_users=50, num_items=60,
                               num_interactions=1500)
    adj = BipartiteAdjacency(data[EDGE].edge_index, 50, 60)
    gen = torch.Generator().manual_seed(0)
    weight = adj.edge_dropout(0.2, generator=gen)
    kept = weight != 0
    # Kept entries are not rescaled; (u, i) and (i, u) dropped independently.
    assert torch.equal(weight[kept], adj.edge_weight[kept])
    assert 0.75 < kept.float().mean() < 0.85
    assert not torch.equal(kept, kept[adj.perm])


def test_adjacency_cache():
    data = get_random_rec_data()
    conv = BipartiteConv()
    ei = data[EDGE].edge_index
    adj = conv.adjacency(ei, 20, 30)
    assert conv.adjacency(ei, 20, 30) is adj
    other = ei.clone()
    adj2 = conv.adjacency(other, 20, 30)  # a different graph object
    assert adj2 is not adj
    other[1, 0] = (other[1, 0] + 1) % 30  # in-place change -> rebuilt
    assert conv.adjacency(other, 20, 30) is not adj2
    assert conv.adjacency(other, 20, 31) is not adj2


def test_adjacency_errors():
    ei = torch.tensor([[0, 1], [0, 5]])
    with pytest.raises(ValueError, match="ids out of range"):
        BipartiteAdjacency(ei, 2, 5)
    with pytest.raises(ValueError, match=r"shape \[2, E\]"):
        BipartiteAdjacency(ei.view(-1), 2, 6)
    with pytest.raises(ValueError, match="Unknown backend 'coo'"):
        BipartiteAdjacency(ei, 2, 6).to_adj('coo')
