import pytest
import torch

from rlmrec_pyg.data import add_noise_interactions, validate_rec_data
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.typing import EDGE, ITEM, REV_EDGE, TEST_INDEX, VAL_INDEX


@pytest.mark.parametrize('ratio', [0.05, 0.25])
def test_noise(ratio):
    data = get_random_rec_data(num_users=40, num_items=50,
                               num_interactions=400)
    train = data[EDGE].edge_index
    noisy = add_noise_interactions(data, ratio, seed=3)
    added = noisy[EDGE].edge_index[:, train.size(1):]
    assert added.size(1) == int(ratio * train.size(1))
    assert torch.equal(noisy[EDGE].edge_index[:, :train.size(1)], train)
    validate_rec_data(noisy)  # not in any split, no duplicates
    assert torch.equal(noisy[REV_EDGE].edge_index,
                       noisy[EDGE].edge_index.flip(0))
    assert torch.equal(noisy[EDGE][VAL_INDEX], data[EDGE][VAL_INDEX])
    assert torch.equal(noisy[EDGE][TEST_INDEX], data[EDGE][TEST_INDEX])
    assert data[EDGE].edge_index.size(1) == train.size(1)  # input untouched
    again = add_noise_interactions(data, ratio, seed=3)
    assert torch.equal(again[EDGE].edge_index, noisy[EDGE].edge_index)


def test_noise_too_large():
    data = get_random_rec_data(num_users=3, num_items=4, num_interactions=10)
    with pytest.raises(ValueError, match='only .* pairs are free'):
        add_noise_interactions(data, 10.0)
    assert data[ITEM].num_nodes == 4
