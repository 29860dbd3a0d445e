import re

import pytest
from profile_helpers import review_data

from rlmrec_pyg.profiles import OfflineProfiler
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.typing import EDGE, ITEM, PROFILE, REASONING, USER


def test_offline_profiles():
    data = review_data()
    out = OfflineProfiler('movie')(data)
    assert PROFILE not in data[ITEM]  # The transform works on a copy.
    for node_type, limit in ((ITEM, 200), (USER, 100)):
        profiles = out[node_type][PROFILE]
        assert len(profiles) == out[node_type].num_nodes
        assert len(out[node_type][REASONING]) == len(profiles)
        assert all(0 < len(p.split()) <= limit for p in profiles)
    assert out[ITEM][PROFILE][0].startswith('Item 0 is a movie. genres: '
                                            'Drama. A drama story number 0')
    assert OfflineProfiler('movie')(data)[USER][PROFILE] == out[USER][PROFILE]
    text = ' '.join(out[ITEM][PROFILE] + out[USER][PROFILE])
    assert 'VALREV' not in text and 'TESTREV' not in text


def test_users_are_described_by_training_items():
    data = get_random_rec_data()
    out = OfflineProfiler('movie')(data)
    train = [set() for _ in range(data[USER].num_nodes)]
    for u, i in data[EDGE].edge_index.t().tolist():
        train[u].add(i)
    for u, profile in enumerate(out[USER][PROFILE]):
        named = re.match(r'This user enjoys movies such as (.*?)\. ', profile)
        items = {int(t.split()[-1]) for t in named.group(1).split(', ')}
        assert items <= train[u] and len(items) == min(6, len(train[u]))


def test_without_text_and_errors():
    data = get_random_rec_data(with_text=False)
    out = OfflineProfiler('book')(data)
    assert out[ITEM][PROFILE][4] == 'Book 4 is a book.'
    assert out[USER][PROFILE][0].startswith('This user enjoys books such as')
    with pytest.raises(ValueError, match="'num_items' must be a positive"):
        OfflineProfiler('movie', num_items=0)
    with pytest.raises(ValueError, match="Unknown domain"):
        OfflineProfiler('cars')
    assert str(OfflineProfiler('yelp')) == "OfflineProfiler(domain='business')"


def test_movielens_offline_profiles(movielens):
    data = OfflineProfiler('movielens')(movielens[0])
    for node_type in (USER, ITEM):
        profiles = data[node_type][PROFILE]
        assert len(profiles) == data[node_type].num_nodes
        assert all(p.strip() and p != 'None' for p in profiles)
