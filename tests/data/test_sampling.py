import pytest
import torch

from rlmrec_pyg.data import BPRSampler, bpr_sample
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.typing import EDGE, ITEM


def _check(edge_index, num_items, user, pos, neg):
    train = set(map(tuple, edge_index.t().tolist()))
    assert user.numel() == pos.numel() == neg.numel() == edge_index.size(1)
    # One triple per training interaction.
    assert sorted(zip(user.tolist(), pos.tolist())) == sorted(train)
    assert not any((u, n) in train
                   for u, n in zip(user.tolist(), neg.tolist()))
    assert int(neg.min()) >= 0 and int(neg.max()) < num_items


def test_bpr_sampler_fake():
    data = get_random_rec_data(num_users=30, num_items=12,
                               num_interactions=200)
    edge_index = data[EDGE].edge_index
    sampler = BPRSampler(edge_index, data[ITEM].num_nodes)
    assert str(sampler) == f'BPRSampler({edge_index.size(1)}, num_items=12)'
    gen = torch.Generator().manual_seed(0)
    user, pos, neg = sampler.sample(gen)
    _check(edge_index, 12, user, pos, neg)
    # Seeded: same generator state, same triples.
    again = bpr_sample(edge_index, 12, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip((user, pos, neg), again))


def test_bpr_sampler_amazon(amazon):
    edge_index = amazon[EDGE].edge_index
    sampler = BPRSampler(edge_index, amazon[ITEM].num_nodes)
    user, pos, neg = sampler.sample(torch.Generator().manual_seed(1))
    # Checked over all of Amazon's training set.
    assert not sampler.is_positive(user, neg).any()
    assert sampler.is_positive(user, pos).all()
    assert neg.unique().numel() > 0.5 * amazon[ITEM].num_nodes


def test_bpr_sampler_errors():
    with pytest.raises(ValueError, match="'edge_index' must have shape"):
        BPRSampler(torch.zeros(3, 4, dtype=torch.long), 5)
    with pytest.raises(ValueError, match='interacted with every item'):
        BPRSampler(torch.tensor([[0, 0], [0, 1]]), 2)
    with pytest.raises(ValueError, match="holds item id 7"):
        BPRSampler(torch.tensor([[0], [7]]), 5)
