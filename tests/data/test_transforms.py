r"""The studies' graph transforms (RQ2-RQ4) as PyG ``BaseTransform``s."""
import pytest
import torch
import torch_geometric.transforms as T

from rlmrec_pyg.data import (AddNoiseInteractions, ShuffleSemantic,
                             TimeWindow, validate_rec_data)
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.typing import (EDGE, ITEM, REV_EDGE, SEM_EMB, TEST_INDEX,
                               USER, VAL_INDEX)

SPLITS = (('edge_index', 'time'), ('val_edge_index', 'val_time'),
          ('test_edge_index', 'test_time'))


def timed_data():
    data = get_random_rec_data(num_users=30, num_items=40)
    gen = torch.Generator().manual_seed(0)
    for key, t in SPLITS:
        n = data[EDGE][key].size(1)
        data[EDGE][t] = torch.randint(1000, (n, ), generator=gen)
    return data


@pytest.mark.parametrize('ratio', [0.05, 0.25])
def test_noise(ratio):
    data = get_random_rec_data(num_users=40, num_items=50,
                               num_interactions=400)
    train = data[EDGE].edge_index
    noisy = AddNoiseInteractions(ratio, seed=3)(data)
    added = noisy[EDGE].edge_index[:, train.size(1):]
    assert added.size(1) == int(ratio * train.size(1))
    assert torch.equal(noisy[EDGE].edge_index[:, :train.size(1)], train)
    validate_rec_data(noisy)  # not in any split, no duplicates
    assert torch.equal(noisy[REV_EDGE].edge_index,
                       noisy[EDGE].edge_index.flip(0))
    assert torch.equal(noisy[EDGE][VAL_INDEX], data[EDGE][VAL_INDEX])
    assert torch.equal(noisy[EDGE][TEST_INDEX], data[EDGE][TEST_INDEX])
    assert data[EDGE].edge_index.size(1) == train.size(1)  # input untouched
    again = AddNoiseInteractions(ratio, seed=3)(data)
    assert torch.equal(again[EDGE].edge_index, noisy[EDGE].edge_index)
    other = AddNoiseInteractions(ratio, seed=4)(data)
    assert not torch.equal(other[EDGE].edge_index, noisy[EDGE].edge_index)


def test_noise_errors():
    data = get_random_rec_data(num_users=3, num_items=4, num_interactions=10)
    with pytest.raises(ValueError, match='only .* pairs are free'):
        AddNoiseInteractions(10.0)(data)
    assert data[ITEM].num_nodes == 4
    with pytest.raises(ValueError, match=r"'ratio' must be non-negative "
                       r"\(got -0.1\)"):
        AddNoiseInteractions(-0.1)


def test_shuffle_semantic():
    data = get_random_rec_data()
    out = ShuffleSemantic(seed=1)(data)
    for nt in (USER, ITEM):
        old, new = data[nt][SEM_EMB], out[nt][SEM_EMB]
        assert not torch.equal(old, new)
        # Same rows, permuted: each new row is exactly one old row.
        match = (new[:, None, :] == old[None, :, :]).all(-1)
        assert match.sum(1).eq(1).all() and match.sum(0).eq(1).all()
    assert torch.equal(out[USER][SEM_EMB],
                       ShuffleSemantic(seed=1)(data)[USER][SEM_EMB])
    assert data[EDGE].edge_index is out[EDGE].edge_index
    del data[USER][SEM_EMB]
    with pytest.raises(ValueError, match="needs 'sem_emb' on node type "
                       "'user'"):
        ShuffleSemantic()(data)


def test_time_window():
    data = timed_data()
    times = torch.cat([data[EDGE].time, data[EDGE].val_time,
                       data[EDGE].test_time]).double()
    early, late = TimeWindow(0.0, 0.5)(data), TimeWindow(0.5, 1.0)(data)
    median = torch.quantile(times, 0.5)
    total = 0
    for key, t in SPLITS:
        assert (early[EDGE][t] < median).all()
        assert (late[EDGE][t] >= median).all()
        # Every interaction stays in its split, in exactly one window.
        assert early[EDGE][key].size(1) + late[EDGE][key].size(1) == \
            data[EDGE][key].size(1)
        total += early[EDGE][key].size(1)
    assert abs(total - times.numel() / 2) <= (times == median).sum() + 1
    assert torch.equal(late['item', 'rev_to', 'user'].edge_index,
                       late[EDGE].edge_index.flip(0))
    assert late[USER].num_nodes == 30
    assert data[EDGE].time.numel() == data[EDGE].edge_index.size(1)
    with pytest.raises(ValueError, match='needs interaction timestamps'):
        TimeWindow(0.0, 0.5)(get_random_rec_data())
    with pytest.raises(ValueError, match='0 <= start < end <= 1'):
        TimeWindow(0.5, 0.5)


def test_transforms_compose():
    # The order of the studies: window, then noise on the window's training
    # interactions, then the shuffle; the input graph is left unchanged.
    data = timed_data()
    before = data[EDGE].edge_index.clone()
    window = TimeWindow(0.0, 0.5)(data)
    out = T.Compose([TimeWindow(0.0, 0.5), AddNoiseInteractions(0.5, seed=1),
                     ShuffleSemantic(seed=1)])(data)
    num = window[EDGE].edge_index.size(1)
    assert out[EDGE].edge_index.size(1) == num + int(0.5 * num)
    assert torch.equal(out[EDGE].edge_index[:, :num], window[EDGE].edge_index)
    assert not torch.equal(out[ITEM][SEM_EMB], data[ITEM][SEM_EMB])
    assert torch.equal(data[EDGE].edge_index, before)
    assert 'AddNoiseInteractions(ratio=0.5, seed=1)' in repr(
        T.Compose([AddNoiseInteractions(0.5, seed=1)]))
