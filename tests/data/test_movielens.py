import csv
import os.path as osp
import shutil

import pytest
import torch

import rlmrec_pyg.data.movielens as mod
from rlmrec_pyg.data import MovieLensText
from rlmrec_pyg.data.download import sha256
from rlmrec_pyg.typing import EDGE, ITEM, TEST_INDEX, USER, VAL_INDEX

SPLITS = ('edge_index', VAL_INDEX, TEST_INDEX)


def test_protocol(movielens):
    data = movielens[0]
    # 5-core on the kept interactions of every user and item.
    index = torch.cat([data[EDGE][k] for k in SPLITS], dim=1)
    assert torch.bincount(index[0]).min() >= 5
    assert torch.bincount(index[1]).min() >= 5
    # >= 1 training item per user, 3:1:1 overall.
    assert data[EDGE].edge_index[0].unique().numel() == data[USER].num_nodes
    sizes = [data[EDGE][k].size(1) for k in SPLITS]
    assert abs(sizes[0] / sum(sizes) - 0.6) < 0.02
    assert len(data[ITEM].title) == data[ITEM].num_nodes
    assert data[ITEM].title[0] == 'Toy Story' and data[ITEM].year[0] == '1995'


def test_two_builds_identical(movielens, tmp_path):
    again = MovieLensText(str(tmp_path))[0]
    data = movielens[0]
    for key in SPLITS:
        assert torch.equal(again[EDGE][key], data[EDGE][key])
    assert again[ITEM].tags == data[ITEM].tags


def test_no_held_out_interaction_reaches_text(movielens, tmp_path,
                                              monkeypatch):
    data = movielens[0]
    users, items = data[USER].raw_id, data[ITEM].raw_id
    held_out = {(users[u], items[i]) for k in SPLITS[1:]
                for u, i in data[EDGE][k].t().tolist()}
    # Rebuild from a tags.csv without the tags of held-out pairs (and with
    # the held-out pairs' tags replaced by junk): the text must not change.
    raw = tmp_path / 'raw' / 'ml-latest-small'
    shutil.copytree(osp.join(movielens.raw_dir, 'ml-latest-small'), raw)
    with open(raw / 'tags.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    changed = 0
    for row in rows:
        if (row['userId'], row['movieId']) in held_out:
            row['tag'] = 'LEAKED-' + row['tag']
            changed += 1
    assert changed > 0
    with open(raw / 'tags.csv', 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    patched = dict(mod.CSV_SHA256, **{'tags.csv': sha256(str(raw /
                                                             'tags.csv'))})
    monkeypatch.setattr(mod, 'CSV_SHA256', patched)
    other = MovieLensText(str(tmp_path))[0]
    for key in SPLITS:
        assert torch.equal(other[EDGE][key], data[EDGE][key])
    for node_type in (USER, ITEM):
        assert other[node_type].tags == data[node_type].tags
    assert not any('leaked' in t for tags in other[ITEM].tags for t in tags)


def test_wrong_checksum(movielens, tmp_path):
    raw = tmp_path / 'raw' / 'ml-latest-small'
    shutil.copytree(osp.join(movielens.raw_dir, 'ml-latest-small'), raw)
    with open(raw / 'movies.csv', 'a') as f:
        f.write('999999,Extra (2000),Drama\n')
    with pytest.raises(ValueError, match='movies.csv.*sha256'):
        MovieLensText(str(tmp_path))
