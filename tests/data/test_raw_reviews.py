r"""The dataset builder (RLMRec's recipe on raw dumps) against a naive
reference of the recipe, on a checked-in fixture of every raw format."""
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch

pytest.importorskip('pyarrow')

from rlmrec_pyg.data import RawReviews, build_from_raw  # noqa: E402
from rlmrec_pyg.data.recipe import (Recipe, apply_recipe,  # noqa: E402
                                    resolve_source, split_until_trained)
from rlmrec_pyg.data.recipe.text import categories_of  # noqa: E402
from rlmrec_pyg.typing import EDGE, ITEM, RAW_ID, USER  # noqa: E402
from tests.data.naive_recipe import (naive_recipe,  # noqa: E402
                                     naive_reviews, read_records)

FIXTURES = osp.join(osp.dirname(__file__), 'raw_fixtures')

# (source, interactions file, metadata file, min_rating)
FORMATS = [
    ('amazon2014', 'amazon2014_reviews.json', 'amazon2014_meta.json', 3.0),
    ('amazon2018', 'amazon2018_reviews.json.gz', 'amazon2018_meta.json', 3.0),
    ('amazon2023', 'amazon2023_reviews.jsonl', 'amazon2023_meta.jsonl', 3.0),
    ('yelp', 'yelp_review.json', 'yelp_business.json', 3.0),
    ('steam', 'steam_reviews.json', 'steam_games.json', None),
    ('table', 'ratings.csv', 'items.csv', 3.0),
    ('table', 'ratings.parquet', None, 3.0),
]
IDS = [f[1] for f in FORMATS]


def fields_of(name):
    return {'review': 'review'} if name.startswith('ratings.') else {}


def triples_of(data):
    out = set()
    users, items = data[USER][RAW_ID], data[ITEM][RAW_ID]
    for s, key in enumerate(('edge_index', 'val_edge_index',
                             'test_edge_index')):
        for u, i in data[EDGE][key].t().tolist():
            out.add((users[u], items[i], s))
    return out


@pytest.mark.parametrize('source,name,meta,min_rating', FORMATS, ids=IDS)
@pytest.mark.parametrize('fraction,k_core,seed', [(1.0, 3, 0), (0.6, 2, 7)])
def test_builder_equals_naive_recipe(source, name, meta, min_rating,
                                     fraction, k_core, seed):
    path = osp.join(FIXTURES, name)
    recipe = Recipe(min_rating, fraction, k_core, (3, 1, 1), seed)
    fields = fields_of(name)
    data, stats = build_from_raw(path, source, None, recipe,
                                 reviews_per_node=3, **fields)
    records = read_records(path)
    src = resolve_source(source, **fields)
    ref_stats, ref_triples, kept = naive_recipe(
        records, src, min_rating, fraction, k_core, (3, 1, 1), seed)
    # Every reference count, the dirt included, is the builder's.
    for key, value in ref_stats.items():
        assert stats[key] == value, key
    assert stats['records without a user or item id'] > 0
    assert stats['duplicate (user, item) records'] > 0
    if fraction < 1:
        assert stats['users sampled'] < stats['users before sampling']
    assert triples_of(data) == ref_triples
    # Reviews: only training interactions', the earliest first.
    ref = naive_reviews(records, src, kept, 3)
    for node_type in (USER, ITEM):
        ids = data[node_type][RAW_ID]
        got = {ids[n]: r for n, r in enumerate(data[node_type].reviews)}
        assert got == {n: ref[node_type].get(n, []) for n in ids}


@pytest.mark.parametrize('source,name,meta,min_rating',
                         [f for f in FORMATS if f[2]], ids=[
                             f[1] for f in FORMATS if f[2]])
def test_item_text_from_metadata(tmp_path, source, name, meta, min_rating):
    dataset = RawReviews(str(tmp_path), osp.join(FIXTURES, name), source,
                         item_meta=osp.join(FIXTURES, meta),
                         min_rating=min_rating, k_core=2,
                         fields=fields_of(name))
    data = dataset[0]
    metadata = {str(r.get(dataset.source.meta_item)): r
                for r in read_records(osp.join(FIXTURES, meta))}
    assert dataset.stats['items with metadata'] == sum(
        1 for i in data[ITEM][RAW_ID] if i in metadata)
    for n, raw in enumerate(data[ITEM][RAW_ID]):
        number = int(raw[1:])
        if raw not in metadata:
            assert data[ITEM].title[n] == '' and data[ITEM].genres[n] == []
            continue
        title = dataset.source.title
        assert data[ITEM].title[n] == metadata[raw][title]
        assert f'Genre{number % 4}' in data[ITEM].genres[n]
        if dataset.source.description is not None:
            assert data[ITEM].description[n].startswith(
                f'About item {number}.')
    # No review of a validation or test interaction reaches a node.
    train = {(u, i) for u, i, s in triples_of(data) if s == 0}
    for node_type in (USER, ITEM):
        for texts in data[node_type].reviews:
            for text in texts:
                user, item = text.split(':')[0].split(' on ')
                assert (user, item) in train


def test_dataset_is_cached_by_inputs_and_parameters(tmp_path):
    path = str(tmp_path / 'ratings.csv')
    shutil.copy(osp.join(FIXTURES, 'ratings.csv'), path)
    first = RawReviews(str(tmp_path / 'ds'), path, k_core=2,
                       fields={'review': 'review'})
    stamp = os.stat(first.processed_paths[0]).st_mtime_ns
    again = RawReviews(str(tmp_path / 'ds'), path, k_core=2,
                       fields={'review': 'review'})
    assert first.processed_paths == again.processed_paths
    assert os.stat(again.processed_paths[0]).st_mtime_ns == stamp
    other = RawReviews(str(tmp_path / 'ds'), path, k_core=6,
                       fields={'review': 'review'})
    assert other.processed_paths != first.processed_paths
    assert other.stats['kept interactions'] < first.stats['kept interactions']
    assert torch.equal(first[0][EDGE].edge_index, again[0][EDGE].edge_index)
    assert 'RawReviews' in repr(first)


def test_split_every_node_trains_and_follows_ratios():
    gen = np.random.default_rng(0)
    user = gen.integers(0, 8000, 60000)  # 7.5 interactions per user
    item = gen.integers(0, 500, 60000)
    split, rounds, redrawn = split_until_trained(
        user, item, (3, 1, 1), np.random.default_rng(1))
    train = split == 0
    assert np.isin(np.unique(user), user[train]).all()
    assert np.isin(np.arange(500), item[train]).all()
    frac = np.bincount(split, minlength=3) / split.size
    assert np.allclose(frac, [0.6, 0.2, 0.2], atol=0.01)
    assert rounds >= 1 and redrawn > 0  # some users had no train draw


def test_recipe_order_rating_filter_before_dedup():
    # (u0, i0) rated 1 then 5: the filter drops the 1, the 5 stays.
    built = apply_recipe(np.array([0, 0, 1]), np.array([0, 0, 0]),
                         np.array([1.0, 5.0, 4.0]), np.array([1, 2, 3]),
                         Recipe(3.0, 1.0, 0))
    assert built.stats['duplicate (user, item) records'] == 0
    assert sorted(built.row.tolist()) == [1, 2]


def test_categories_flatten_every_shape():
    assert categories_of([[['Books', 'Fiction'], ['Books', 'Kids']],
                          'Pizza, Bars', None]) == [
        'Books', 'Fiction', 'Kids', 'Pizza', 'Bars']


@pytest.mark.parametrize('kwargs,match', [
    (dict(user_fraction=0.0), "'user_fraction' must be a number in"),
    (dict(user_fraction=1.5), "'user_fraction' must be a number in"),
    (dict(k_core=-1), "'k_core' must be an integer >= 0"),
    (dict(min_rating=float('nan')), "'min_rating' must be a finite"),
    (dict(ratios=(0, 1, 1)), "'ratios' must be three"),
    (dict(source='amazon'), "'source' must be one of 'amazon2014'"),
    (dict(fields={'usr': 'x'}), "Unknown field of a source 'usr'"),
    (dict(fields={'user': ''}), "'user' cannot be removed"),
    (dict(reviews_per_node=-1), "'reviews_per_node' must be an integer"),
])
def test_bad_arguments_name_the_argument(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        RawReviews(str(tmp_path), osp.join(FIXTURES, 'ratings.csv'),
                   **kwargs)
    assert not (tmp_path / 'processed').exists()


def test_wrong_field_names_and_bad_files_fail_clearly(tmp_path):
    csv_path = osp.join(FIXTURES, 'ratings.csv')
    with pytest.raises(ValueError, match="ratings.csv'.*customer"):
        build_from_raw(csv_path, 'table', user='customer')
    with pytest.raises(ValueError, match="has no value in the field "
                       "'reviewerID'"):
        build_from_raw(osp.join(FIXTURES, 'yelp_review.json'), 'amazon2014')
    with pytest.raises(ValueError, match="needs ratings"):
        build_from_raw(osp.join(FIXTURES, 'steam_reviews.json'), 'steam',
                       recipe=Recipe(min_rating=3.0))
    bad = tmp_path / 'bad.json'
    bad.write_text('{"user": "a", "item": "b"}\n{"user": "a", oops\n')
    with pytest.raises(ValueError, match="bad.json', line 2: not a record"):
        build_from_raw(str(bad), 'table', rating='', time='',
                       recipe=Recipe(None, 1.0, 0))
    # Numeric ids in JSON lines are ids like any other.
    numeric = tmp_path / 'numeric.jsonl'
    numeric.write_text(''.join(
        f'{{"user": {u}, "item": "i{i}", "rating": 4}}\n'
        for u in range(4) for i in range(3)))
    data, stats = build_from_raw(str(numeric), 'table', time='',
                                 recipe=Recipe(3.0, 1.0, 2))
    assert sorted(data[USER][RAW_ID]) == ['0', '1', '2', '3']
    assert stats['kept interactions'] == 12
    other = tmp_path / 'ratings.xlsx'
    other.write_text('x')
    with pytest.raises(ValueError, match=r"must end in one of"):
        build_from_raw(str(other))
    with pytest.raises(FileNotFoundError, match="'interactions': no file"):
        RawReviews(str(tmp_path), str(tmp_path / 'missing.csv'))


@pytest.mark.parametrize('config,name,meta', [
    ('raw', 'ratings.csv', 'items.csv'),
    ('amazon_book_raw', 'amazon2014_reviews.json', 'amazon2014_meta.json'),
    ('yelp_raw', 'yelp_review.json', 'yelp_business.json'),
    ('steam_raw', 'steam_reviews.json', 'steam_games.json'),
])
def test_dataset_configs_train(tmp_path, config, name, meta):
    # The Hydra configs build the dataset with their source and the paper's
    # parameters (the fixtures are too small for a 10-core: 2 here), and a
    # run trains on it.
    from tests.run_helpers import get_cfg, run
    cfg = get_cfg(tmp_path, [
        f'dataset={config}', f'paths.data_dir={tmp_path}',
        f'dataset.interactions={osp.join(FIXTURES, name)}',
        f'dataset.item_meta={osp.join(FIXTURES, meta)}',
        'dataset.k_core=2', '~semantic', 'alignment=none'])
    paper = {'raw': (3.0, 1.0), 'amazon_book_raw': (3.0, 0.2),
             'yelp_raw': (3.0, 0.25), 'steam_raw': (None, 0.25)}[config]
    assert (cfg.dataset.min_rating, cfg.dataset.user_fraction) == paper
    out = run(cfg)
    assert out['test/recall@20'] >= 0
    with open(next(tmp_path.rglob('stats_*.json'))) as f:
        stats = json.load(f)
    assert stats['users sampled'] == max(1, round(
        paper[1] * stats['users before sampling']))


def test_time_columns_multiline_text_and_missing_times(tmp_path, caplog):
    import datetime

    import pyarrow as pa
    import pyarrow.parquet as pq
    users = [f'u{k % 4}' for k in range(24)]
    items = [f'i{k % 6}' for k in range(24)]
    stamps = [datetime.datetime(2020, 1, 1 + k) for k in range(24)]
    path = tmp_path / 'r.parquet'
    pq.write_table(pa.table({'user': users, 'item': items,
                             'rating': [5.0] * 24,
                             'timestamp': pa.array(stamps,
                                                   pa.timestamp('ns'))}),
                   path)
    data, stats = build_from_raw(str(path), recipe=Recipe(3.0, 1.0, 1))
    # The earliest of each duplicated pair: the first 12 days.
    seconds = {int(s.replace(tzinfo=datetime.timezone.utc).timestamp())
               for s in stamps[:12]}
    got = set(torch.cat([data[EDGE][k] for k in
                         ('time', 'val_time', 'test_time')]).tolist())
    assert got == seconds  # seconds, not nanoseconds
    # A quoted review spanning lines is one record; a missing time keeps
    # the timestamps out of the graph (a time window would misorder it).
    text = 'user,item,rating,timestamp,review\n' + ''.join(
        f'u{k % 4},i{k % 6},5,{"" if k % 12 == 3 else 1600000000 + k},'
        f'"line one\nline two {k}"\n' for k in range(24))
    (tmp_path / 'r.csv').write_text(text)
    data, stats = build_from_raw(str(tmp_path / 'r.csv'), review='review',
                                 recipe=Recipe(3.0, 1.0, 1))
    assert stats['records'] == 24 and 'time' not in data[EDGE]
    assert 'no readable time' in caplog.text
    assert any('line one\nline two' in t for ts in data[ITEM].reviews
               for t in ts)
