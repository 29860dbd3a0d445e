import pytest
import torch

from rlmrec_pyg.nn import BipartiteAdjacency
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.typing import EDGE


@pytest.fixture
def adj():
    data = get_random_rec_data()
    return BipartiteAdjacency(data[EDGE].edge_index, 20, 30, self_loops=True)


def test_matmul_matches_dense_and_gradcheck(adj):
    gen = torch.Generator().manual_seed(0)
    weight = torch.rand(adj.edge_weight.size(), generator=gen,
                        dtype=torch.double, requires_grad=True)
    x = torch.randn(50, 4, generator=gen, dtype=torch.double,
                    requires_grad=True)
    # Naive: W[t, s] = weight of the stored entry (s, t).
    src, dst = adj.edge_index
    dense = torch.zeros(50, 50, dtype=torch.double)
    dense = dense.index_put((dst, src), weight)
    assert torch.allclose(adj.matmul(x, weight), dense @ x)
    assert torch.autograd.gradcheck(adj.matmul, (x, weight))


def test_edge_dot_matches_gather_and_gradcheck(adj):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(50, 4, generator=gen, dtype=torch.double,
                    requires_grad=True)
    src, dst = adj.edge_index
    assert torch.allclose(adj.edge_dot(x), (x[src] * x[dst]).sum(-1))
    assert torch.autograd.gradcheck(adj.edge_dot, (x, ))
