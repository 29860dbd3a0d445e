import copy
import pickle

import pytest
import torch
from torch_geometric.nn.models import LightGCN as PyGLightGCN

from rlmrec_pyg.nn import LightGCN, NodeEmbedding
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.typing import EDGE, ITEM, USER


@pytest.mark.parametrize('backend', ['csr', 'edge_index'])
def test_lightgcn(backend):
    data = get_random_rec_data()
    embedding = NodeEmbedding({USER: 20, ITEM: 30}, 16)
    model = LightGCN(16, num_layers=3, backend=backend)
    assert str(model) == 'LightGCN(16, num_layers=3, edge_drop_rate=0.2)'
    assert model.out_channels == 16
    model.eval()
    z_dict = model(embedding(), data.edge_index_dict)
    assert z_dict[USER].size() == (20, 16) and z_dict[ITEM].size() == (30, 16)
    # eval() is deterministic (no edge dropout).
    again = model(embedding(), data.edge_index_dict)
    assert torch.equal(z_dict[USER], again[USER])
    # Same values as PyG's LightGCN with the layer-sum readout.
    ei = data[EDGE].edge_index + torch.tensor([[0], [20]])
    pyg = PyGLightGCN(50, 16, 3, alpha=torch.ones(4))
    with torch.no_grad():
        x_dict = embedding()
        pyg.embedding.weight.copy_(torch.cat([x_dict[USER], x_dict[ITEM]]))
    ref = pyg.get_embedding(torch.cat([ei, ei.flip(0)], dim=1))
    assert torch.allclose(torch.cat([z_dict[USER], z_dict[ITEM]]), ref,
                          atol=1e-6)
    # Training mode drops edges; gradients reach the embeddings.
    model.train()
    z1 = model(embedding(), data.edge_index_dict)
    z2 = model(embedding(), data.edge_index_dict)
    assert not torch.allclose(z1[USER], z2[USER])
    z1[ITEM].sum().backward()
    assert embedding.weight_dict[USER].grad.abs().sum() > 0


def test_lightgcn_pickle_and_copy():
    data = get_random_rec_data()
    embedding = NodeEmbedding({USER: 20, ITEM: 30}, 8)
    model = LightGCN(8).eval()
    out = model(embedding(), data.edge_index_dict)[USER]
    for other in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert torch.allclose(other(embedding(), data.edge_index_dict)[USER],
                              out)


def test_lightgcn_no_drop_in_training():
    data = get_random_rec_data()
    embedding = NodeEmbedding({USER: 20, ITEM: 30}, 8)
    model = LightGCN(8, num_layers=2, edge_drop_rate=0.0)
    z1 = model(embedding(), data.edge_index_dict)
    model.eval()
    z2 = model(embedding(), data.edge_index_dict)
    assert torch.allclose(z1[ITEM], z2[ITEM])


def test_lightgcn_errors():
    data = get_random_rec_data()
    with pytest.raises(ValueError, match="'edge_drop_rate' must lie"):
        LightGCN(8, edge_drop_rate=1.0)
    with pytest.raises(ValueError, match="'embedding_dim' must be positive"):
        LightGCN(0)
    with pytest.raises(ValueError, match="Unknown 'backend' 'dense'"):
        LightGCN(8, backend='dense')
    model = LightGCN(8)
    x_dict = {USER: torch.randn(20, 8), ITEM: torch.randn(10, 8)}
    with pytest.raises(ValueError, match='ids out of range'):
        model(x_dict, data.edge_index_dict)  # 30 items in the graph
    with pytest.raises(ValueError, match="lacks node type 'item'"):
        model({USER: x_dict[USER]}, data.edge_index_dict)
