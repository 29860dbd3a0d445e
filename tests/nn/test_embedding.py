import math

import pytest
import torch

from rlmrec_pyg.nn import NodeEmbedding


def test_node_embedding():
    emb = NodeEmbedding({'user': 11000, 'item': 93}, 32)
    assert str(emb) == ("NodeEmbedding({'user': 11000, 'item': 93}, "
                        "embedding_dim=32)")
    x_dict = emb()
    assert x_dict['user'].size() == (11000, 32)
    assert x_dict['item'].size() == (93, 32)
    # Xavier-uniform per table (docs/parity.md#xavier-initialisation).
    for nt, num in emb.num_nodes_dict.items():
        bound = math.sqrt(6 / (num + 32))
        assert x_dict[nt].abs().max() <= bound
        assert x_dict[nt].abs().max() > 0.9 * bound
    before = x_dict['item'].detach().clone()
    emb.reset_parameters()
    assert not torch.equal(before, emb()['item'])
    assert len(list(emb.parameters())) == 2
    assert set(emb.state_dict()) == {'weight_dict.user', 'weight_dict.item'}


def test_node_embedding_errors():
    with pytest.raises(ValueError, match="node type 'item'"):
        NodeEmbedding({'user': 3, 'item': 0}, 8)
    with pytest.raises(ValueError, match="'embedding_dim' must be a positive"):
        NodeEmbedding({'user': 3}, -1)
    with pytest.raises(TypeError, match="'num_nodes_dict' must be"):
        NodeEmbedding([3, 4], 8)
