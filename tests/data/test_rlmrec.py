import os.path as osp
import pickle
import zipfile

import numpy as np
import pytest
import torch

from official_files import write_official_split
from rlmrec_pyg.data import RLMRecDataset, UnsafePickleError
from rlmrec_pyg.data.unpickle import safe_load
from rlmrec_pyg.typing import (EDGE, ITEM, PROFILE, REASONING, SEM_EMB,
                               TEST_INDEX, USER, VAL_INDEX)


def test_amazon_from_cache(amazon, data_cache):
    assert amazon[USER].num_nodes == 11000
    assert amazon[ITEM].num_nodes == 9332
    sizes = [amazon[EDGE][k].size(1)
             for k in ('edge_index', VAL_INDEX, TEST_INDEX)]
    assert sizes == [120464, 40290, 40106]
    keys = [amazon[EDGE][k][0] * 9332 + amazon[EDGE][k][1]
            for k in ('edge_index', VAL_INDEX, TEST_INDEX)]
    assert torch.cat(keys).unique().numel() == sum(sizes)  # disjoint
    for key, f in zip(('edge_index', VAL_INDEX, TEST_INDEX),
                      ('trn', 'val', 'tst')):
        mat = safe_load(osp.join(data_cache, 'rlmrec', 'amazon',
                                 f'{f}_mat.pkl')).tocsr().tocoo()
        expected = torch.from_numpy(np.stack([mat.row, mat.col])).long()
        assert torch.equal(amazon[EDGE][key], expected)  # edge by edge


def test_profiles_and_embeddings_attached(tmp_path, monkeypatch):
    monkeypatch.delenv('RLMREC_DATA_CACHE', raising=False)
    write_official_split(tmp_path / 'yelp' / 'raw')
    data = RLMRecDataset(str(tmp_path), 'yelp')[0]
    assert data[USER][PROFILE] == [f'user {i}' for i in range(6)]
    assert data[USER][REASONING][2] == 'why 2'
    assert data[ITEM][PROFILE][4] == 'item 4'
    assert data[USER][SEM_EMB].size() == (6, 4)
    assert data[ITEM][SEM_EMB].dtype == torch.float32


def test_download_keeps_only_its_folder(tmp_path, monkeypatch):
    monkeypatch.delenv('RLMREC_DATA_CACHE', raising=False)
    src = tmp_path / 'src'
    write_official_split(src / 'data' / 'steam', extras=False)
    write_official_split(src / 'data' / 'yelp', extras=False)
    archive = tmp_path / 'data.zip'
    with zipfile.ZipFile(archive, 'w') as zf:
        for path in sorted(src.rglob('*.pkl')):
            zf.write(path, path.relative_to(src))
    monkeypatch.setattr(RLMRecDataset, 'url', archive.as_uri())
    data = RLMRecDataset(str(tmp_path / 'root'), 'steam')[0]
    raw = tmp_path / 'root' / 'steam' / 'raw'
    assert sorted(p.name for p in raw.iterdir()) == [
        'trn_mat.pkl', 'tst_mat.pkl', 'val_mat.pkl'
    ]
    assert data[EDGE].edge_index.size(1) == 6
    assert PROFILE not in data[USER]  # interactions-only folder works


def test_bad_files(tmp_path, monkeypatch):
    monkeypatch.delenv('RLMREC_DATA_CACHE', raising=False)
    raw = tmp_path / 'amazon' / 'raw'
    write_official_split(raw, extras=False)
    with open(raw / 'usr_emb_np.pkl', 'wb') as f:
        pickle.dump(np.zeros((3, 4)), f)  # 3 rows for 6 users
    with pytest.raises(ValueError, match=r'\[6, d\].*usr_emb_np.pkl'):
        RLMRecDataset(str(tmp_path), 'amazon')
    blob = (raw / 'trn_mat.pkl').read_bytes()
    (raw / 'trn_mat.pkl').write_bytes(blob[:40])
    (raw / 'usr_emb_np.pkl').unlink()
    with pytest.raises(ValueError, match='trn_mat.pkl.*truncated'):
        RLMRecDataset(str(tmp_path), 'amazon', force_reload=True)


def test_unsafe_profile_refused(tmp_path, monkeypatch):
    monkeypatch.delenv('RLMREC_DATA_CACHE', raising=False)
    raw = tmp_path / 'amazon' / 'raw'
    write_official_split(raw, extras=False)
    with open(raw / 'itm_prf.pkl', 'wb') as f:
        pickle.dump([{'profile': zipfile.ZipInfo('x')}], f)
    with pytest.raises(UnsafePickleError, match='zipfile.ZipInfo'):
        RLMRecDataset(str(tmp_path), 'amazon')


def test_unknown_name(tmp_path):
    with pytest.raises(ValueError, match="Unknown dataset 'movies'"):
        RLMRecDataset(str(tmp_path), 'movies')
