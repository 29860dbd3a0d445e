import pytest
import torch

from rlmrec_pyg.data import InteractionCSV, interactions_to_data
from rlmrec_pyg.data.interactions import k_core_mask, split_per_user
from rlmrec_pyg.typing import EDGE, ITEM, TEST_INDEX, USER, VAL_INDEX


def _write(path, rows, header):
    path.write_text('\n'.join([','.join(header)] +
                              [','.join(map(str, r)) for r in rows]) + '\n')


def test_csv_with_string_ids_and_text(tmp_path):
    rows = [(f'u{u}', f'item-{(u * 7 + k) % 11}', 1 + (u + k) % 5, 100 + k)
            for u in range(12) for k in range(6)]
    _write(tmp_path / 'ratings.csv', rows, ['user', 'item', 'rating', 'ts'])
    _write(tmp_path / 'items.csv', [(f'item-{i}', f'Title {i}')
                                    for i in range(11)], ['item', 'title'])
    ds = InteractionCSV(str(tmp_path / 'root'), str(tmp_path / 'ratings.csv'),
                        rating_col='rating', time_col='ts', min_rating=3,
                        item_text=str(tmp_path / 'items.csv'), seed=1)
    data = ds[0]
    kept = {(u, i) for u, i, r, _ in rows if r >= 3}
    users, items = data[USER].raw_id, data[ITEM].raw_id
    got = {(users[u], items[i])
           for k in ('edge_index', VAL_INDEX, TEST_INDEX)
           for u, i in data[EDGE][k].t().tolist()}
    assert got == kept  # mapping kept, rating filter applied
    assert data[ITEM].title == [f'Title {i[5:]}' for i in items]
    assert data[EDGE].time.numel() == data[EDGE].edge_index.size(1)


def test_csv_errors(tmp_path):
    _write(tmp_path / 'r.csv', [('a', 'x')], ['user', 'item'])
    with pytest.raises(ValueError, match="Column 'rating' not found"):
        InteractionCSV(str(tmp_path / 'root'), str(tmp_path / 'r.csv'),
                       rating_col='rating')
    with pytest.raises(ValueError, match="file '.*missing.csv' does not"):
        InteractionCSV(str(tmp_path / 'root'), str(tmp_path / 'missing.csv'))
    with pytest.raises(TypeError, match='CSV path or a pandas.DataFrame'):
        InteractionCSV(str(tmp_path / 'root'), 42)


def test_k_core_is_iterative():
    # Item 2 has one interaction; removing it drops user 1 below k = 2.
    user = torch.tensor([0, 0, 1, 1, 2, 2])
    item = torch.tensor([0, 1, 0, 2, 0, 1])
    keep = k_core_mask(user, item, 2)
    assert keep.tolist() == [True, True, False, False, True, True]


def test_split_per_user_keeps_a_train_item():
    user = torch.tensor([0] * 5 + [1] * 2 + [2])
    split = split_per_user(user, (3, 1, 1), seed=0)
    for u in range(3):
        assert (split[user == u] == 0).sum() >= 1
    assert (split[user == 0] == 1).sum() == 1
    assert (split[user == 0] == 2).sum() == 1
    assert torch.equal(split, split_per_user(user, (3, 1, 1), seed=0))


def test_filters_can_remove_everything():
    with pytest.raises(ValueError, match='No interaction survives'):
        interactions_to_data(['a', 'b'], ['x', 'y'], k_core=3)
