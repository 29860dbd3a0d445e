import pytest
import torch

from rlmrec_pyg.nn import GCCF, NodeEmbedding
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.typing import EDGE, ITEM, USER


def dense_adj(edge_index, num_users, num_items, self_loops):
    n = num_users + num_items
    a = torch.zeros(n, n)
    a[edge_index[0], edge_index[1] + num_users] = 1.0
    a[edge_index[1] + num_users, edge_index[0]] = 1.0
    a += torch.eye(n) if self_loops else 0.0
    d = a.sum(1).pow(-0.5)
    d[torch.isinf(d)] = 0.0
    return d.view(-1, 1) * a * d.view(1, -1)


@pytest.mark.parametrize('self_loops', [True, False])
@pytest.mark.parametrize('backend', ['csr', 'edge_index'])
def test_gccf(self_loops, backend):
    data = get_random_rec_data()
    embedding = NodeEmbedding({USER: 20, ITEM: 30}, 8)
    model = GCCF(8, num_layers=2, self_loops=self_loops, backend=backend)
    assert str(model) == f'GCCF(8, num_layers=2, self_loops={self_loops})'
    assert model.out_channels == 24
    z_dict = model(embedding(), data.edge_index_dict)
    assert z_dict[USER].size() == (20, 24) and z_dict[ITEM].size() == (30, 24)
    # Reference: [E0 || A E0 || A^2 E0] (docs/parity.md#gccf-readout), same
    # in train and eval.
    a = dense_adj(data[EDGE].edge_index, 20, 30, self_loops)
    e0 = torch.cat([embedding()[USER], embedding()[ITEM]])
    ref = torch.cat([e0, a @ e0, a @ a @ e0], dim=-1)
    out = torch.cat([z_dict[USER], z_dict[ITEM]])
    assert torch.allclose(out, ref, atol=1e-6)
    model.eval()
    assert torch.equal(model(embedding(), data.edge_index_dict)[ITEM],
                       z_dict[ITEM])
    out.sum().backward()
    assert embedding.weight_dict[ITEM].grad is not None
    assert len(list(model.parameters())) == 0


def test_gccf_errors():
    with pytest.raises(ValueError, match="'num_layers' must be non-negative"):
        GCCF(8, num_layers=-1)
    with pytest.raises(ValueError, match="lacks edge type"):
        GCCF(8)({USER: torch.randn(2, 8), ITEM: torch.randn(2, 8)}, {})
