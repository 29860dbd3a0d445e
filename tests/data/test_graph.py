import pytest
import torch

from rlmrec_pyg.data import build_rec_data, validate_rec_data
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.typing import EDGE, ITEM, REV_EDGE, TEST_INDEX, USER, VAL_INDEX


def test_representation():
    data = get_random_rec_data(num_users=20, num_items=30, sem_channels=8)
    assert set(data.edge_index_dict) == {EDGE, REV_EDGE}
    assert torch.equal(data[REV_EDGE].edge_index,
                       data[EDGE].edge_index.flip(0))
    assert data.sem_emb_dict[USER].size() == (20, 8)
    assert data.sem_emb_dict[ITEM].size() == (30, 8)
    # Every user and every item has a training interaction.
    assert data[EDGE].edge_index[0].unique().numel() == 20
    assert data[EDGE].edge_index[1].unique().numel() == 30
    validate_rec_data(data)


@pytest.mark.parametrize('val,test,match', [
    ([[0], [1]], [[0], [1]], 'not disjoint'),
    ([[0], [9]], [[1], [0]], 'out of range'),
    ([[0, 0], [2, 2]], [[1], [0]], 'duplicates'),
])
def test_validation_errors(val, test, match):
    train = torch.tensor([[0, 1], [0, 1]])
    with pytest.raises(ValueError, match=match):
        build_rec_data(2, 3, train, torch.tensor(val), torch.tensor(test))


def test_sem_emb_rows_checked():
    data = get_random_rec_data(num_users=5, num_items=6)
    data[USER].sem_emb = torch.randn(4, 8)
    with pytest.raises(ValueError, match="'sem_emb'.*'user'.*5 rows"):
        validate_rec_data(data)
    for bad in (float('nan'), float('inf'), -float('inf')):
        sem = torch.randn(5, 8)
        sem[3, 5] = sem[4, 0] = bad
        data[USER].sem_emb = sem
        with pytest.raises(ValueError, match=r"'sem_emb' of node type 'user'"
                           r".* 2 rows, the first is row 3 \(a "
                           f"{bad}"):
            validate_rec_data(data)


def test_empty_splits_allowed():
    data = build_rec_data(2, 2, torch.tensor([[0, 1], [1, 0]]))
    assert data[EDGE][VAL_INDEX].size() == (2, 0)
    assert data[EDGE][TEST_INDEX].size() == (2, 0)
