import pytest
import torch

from rlmrec_pyg.nn import BipartiteAdjacency
from rlmrec_pyg.nn.conv.csr_autograd import CSRPattern, sddmm, spmm
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


def test_general_pattern_products_gradcheck():
    # A non-symmetric pattern with a repeated row and an empty one: the
    # transpose comes from `from_edge_index`, not from symmetry.
    edge_index = torch.tensor([[2, 0, 2, 3, 0, 4], [1, 3, 0, 3, 0, 1]])
    pattern, order = CSRPattern.from_edge_index(edge_index, 5)
    row, col = edge_index[:, order]
    gen = torch.Generator().manual_seed(2)
    a, b = (torch.randn(5, 3, generator=gen, dtype=torch.double,
                        requires_grad=True) for _ in range(2))
    value = torch.rand(6, generator=gen, dtype=torch.double,
                       requires_grad=True)
    assert torch.allclose(sddmm(pattern, a, b), (a[row] * b[col]).sum(-1))
    dense = torch.zeros(5, 5, dtype=torch.double).index_put((row, col), value)
    assert torch.allclose(spmm(pattern, value, b), dense @ b)
    assert torch.autograd.gradcheck(lambda x, y: sddmm(pattern, x, y), (a, b))
    assert torch.autograd.gradcheck(lambda v, y: spmm(pattern, v, y),
                                    (value, b))
