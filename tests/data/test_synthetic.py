import math

import pytest
import torch

from rlmrec_pyg.data.synthetic import synthetic_catalogue
from rlmrec_pyg.typing import EDGE, ITEM, TEST_INDEX, USER, VAL_INDEX


def all_pairs(data):
    store = data[EDGE]
    return torch.cat([store.edge_index, store[VAL_INDEX], store[TEST_INDEX]],
                     dim=1)


def test_exact_count_seeded_and_valid():
    a = synthetic_catalogue(500, 300, 6000, seed=1)
    b = synthetic_catalogue(500, 300, 6000, seed=1)
    c = synthetic_catalogue(500, 300, 6000, seed=2)
    pairs = all_pairs(a)
    assert pairs.size(1) == 6000
    keys = pairs[0] * 300 + pairs[1]
    assert keys.unique().numel() == 6000
    assert torch.equal(pairs, all_pairs(b))
    assert not torch.equal(pairs, all_pairs(c))
    assert a[USER].num_nodes == 500 and a[ITEM].num_nodes == 300


def log_log_slope(degree, head):
    degree = degree.sort(descending=True).values[:head].double()
    rank = torch.arange(1, head + 1, dtype=torch.float64)
    x, y = rank.log(), degree.clamp(min=1).log()
    x, y = x - x.mean(), y - y.mean()
    return float((x * y).sum() / (x * x).sum())


@pytest.mark.parametrize('exponent', [0.5, 1.0])
def test_item_degrees_follow_the_exponent(exponent):
    data = synthetic_catalogue(20000, 2000, 100000, num_clusters=1,
                               item_exponent=exponent, user_exponent=0.0,
                               seed=0)
    degree = torch.bincount(all_pairs(data)[1], minlength=2000)
    assert log_log_slope(degree, 200) == pytest.approx(-exponent, abs=0.12)


def test_user_degrees_follow_the_exponent():
    data = synthetic_catalogue(2000, 20000, 100000, num_clusters=1,
                               user_exponent=0.9, item_exponent=0.0, seed=0)
    degree = torch.bincount(all_pairs(data)[0], minlength=2000)
    assert log_log_slope(degree, 200) == pytest.approx(-0.9, abs=0.12)
    flat = synthetic_catalogue(2000, 20000, 100000, num_clusters=1,
                               user_exponent=0.0, seed=0)
    degree = torch.bincount(all_pairs(flat)[0], minlength=2000)
    assert abs(log_log_slope(degree, 200)) < 0.1


@pytest.mark.parametrize('in_cluster', [1.0, 0.5, 0.0])
def test_items_come_from_the_users_cluster(in_cluster):
    data = synthetic_catalogue(3000, 2000, 30000, num_clusters=10,
                               in_cluster=in_cluster, seed=0)
    pairs = all_pairs(data)
    same = (data[USER].cluster[pairs[0]] == data[ITEM].cluster[pairs[1]])
    share = float(same.double().mean())
    if in_cluster == 1.0:
        assert share == 1.0
    elif in_cluster == 0.0:
        assert share < 0.25  # 1 / 10 clusters, popularity-weighted
    else:
        assert 0.5 < share < 0.65


def test_split_ratio_and_every_node_in_training():
    data = synthetic_catalogue(1000, 800, 20000, split=(3, 1, 1), seed=0)
    store = data[EDGE]
    sizes = [store.edge_index.size(1), store[VAL_INDEX].size(1),
             store[TEST_INDEX].size(1)]
    assert sizes[1] / 20000 == pytest.approx(0.2, abs=0.02)
    assert sizes[2] / 20000 == pytest.approx(0.2, abs=0.02)
    pairs = all_pairs(data)
    for row, num in ((0, 1000), (1, 800)):
        has_any = torch.bincount(pairs[row], minlength=num) > 0
        has_train = torch.bincount(store.edge_index[row], minlength=num) > 0
        assert torch.equal(has_any, has_train)
    no_test = synthetic_catalogue(1000, 800, 20000, split=(4, 1, 0), seed=0)
    assert no_test[EDGE][TEST_INDEX].size(1) == 0


def test_semantic_vectors_carry_the_clusters_and_text():
    data = synthetic_catalogue(400, 300, 4000, num_clusters=4,
                               sem_channels=16, sem_noise=0.3,
                               sem_dtype=torch.float16, with_text=True,
                               seed=0)
    sem, cluster = data[ITEM].sem_emb, data[ITEM].cluster
    assert sem.shape == (300, 16) and sem.dtype == torch.float16
    assert data[USER].sem_emb.shape == (400, 16)
    x = torch.nn.functional.normalize(sem.float(), dim=-1)
    sim = x @ x.t()
    same = cluster.view(-1, 1) == cluster.view(1, -1)
    assert float(sim[same].mean()) > float(sim[~same].mean()) + 0.3
    assert len(data[ITEM].title) == len(data[ITEM].description) == 300
    assert data[ITEM].genres[0] in data[ITEM].description[0].title()
    assert 'sem_emb' not in synthetic_catalogue(50, 40, 300)[ITEM]


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_users=0), "'num_users' must be a positive integer"),
    (dict(num_interactions=10**6), "'num_interactions' must be at most"),
    (dict(num_clusters=100), "'num_clusters' must be at most"),
    (dict(in_cluster=1.5), "'in_cluster' must be in"),
    (dict(item_exponent=-1.0), "'item_exponent' must be a finite"),
    (dict(user_exponent=math.nan), "'user_exponent' must be a finite"),
    (dict(split=(0, 1, 1)), "'split' must be three ratios"),
    (dict(sem_channels=-2), "'sem_channels' must be"),
])
def test_bad_arguments(kwargs, match):
    args = dict(num_users=50, num_items=40, num_interactions=300)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        synthetic_catalogue(**args)
