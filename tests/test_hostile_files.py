r"""Files handed to the library from elsewhere never run code: a planted
payload of each kind (checkpoint to resume, ``init_from`` checkpoint,
dataset ``processed/`` folder, official pickle) is refused with one error
naming the file, the payload does not run, and nothing is created.

Each payload, when unpickled by an unsafe reader, would create a marker
file; every test asserts the marker does not exist. The payload names
``builtins.exec``, a global for which PyG's own ``fs.torch_load`` falls
back to ``weights_only=False`` (so these tests fail if a dataset reads
its processed folder through PyG's reader)."""
import os
import os.path as osp
import pickle

import pytest
import torch
from official_files import write_official_split
from run_helpers import get_cfg, run

from rlmrec_pyg.data import InteractionCSV, RLMRecDataset
from rlmrec_pyg.io import CorruptFileError, UnsafeFileError
from rlmrec_pyg.nn import LightGCN, NodeEmbedding, Recommender
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.train import Trainer, load_checkpoint
from rlmrec_pyg.typing import ITEM, USER


class Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f'open({self.marker!r}, "w").close()', ))


def _files(folder):
    return sorted(osp.relpath(osp.join(root, f), folder)
                  for root, _, files in os.walk(folder) for f in files)


def _setup(num_users=20, num_items=30):
    data = get_random_rec_data(num_users, num_items, sem_channels=0)
    embedding = NodeEmbedding({USER: num_users, ITEM: num_items}, 8)
    model = Recommender(LightGCN(8, num_layers=1), embedding=embedding)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    return data, model, optimizer


def test_checkpoint_to_resume_from(tmp_path):
    marker = str(tmp_path / 'RAN')
    data, model, optimizer = _setup()
    path = str(tmp_path / 'best.pt')
    Trainer(max_epochs=1, checkpoint_path=path).fit(model, data, optimizer)
    ckpt = load_checkpoint(path)
    assert ckpt['version'] == 1 and set(ckpt) >= {'model', 'embedding'}
    ckpt['state']['counter'] = Payload(marker)
    torch.save(ckpt, path)
    before = _files(tmp_path)
    with pytest.raises(UnsafeFileError, match="Refused to load the "
                       "checkpoint to resume from '.*best.pt': it names "
                       "code to run"):
        Trainer(max_epochs=2, checkpoint_path=path).fit(
            model, data, optimizer, resume=True)
    assert not osp.exists(marker) and _files(tmp_path) == before


def test_checkpoint_versions_and_corruption(tmp_path):
    path = str(tmp_path / 'c.pt')
    state = dict(embedding={'weight': torch.ones(2)})
    torch.save(state, path)  # an unversioned checkpoint of earlier releases
    assert load_checkpoint(path, required=('embedding', ))['embedding']
    torch.save(dict(state, version=99), path)
    with pytest.raises(CorruptFileError, match='format version 99; this '
                       'rlmrec_pyg reads versions up to 1'):
        load_checkpoint(path, required=('embedding', ))
    torch.save(dict(state, version=1), path)
    with pytest.raises(CorruptFileError, match=r"lacks \['model'\]"):
        load_checkpoint(path, required=('model', ))
    blob = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(blob[:len(blob) // 2])
    with pytest.raises(CorruptFileError, match="Could not read the "
                       "checkpoint '.*c.pt'.*truncated"):
        load_checkpoint(path)
    torch.save(dict(embedding=[1, 2]), path)
    with pytest.raises(CorruptFileError, match="no valid 'embedding'"):
        load_checkpoint(path, required=('embedding', ))


def test_init_from(tmp_path):
    marker = str(tmp_path / 'RAN')
    path = str(tmp_path / 'given.pt')
    torch.save(dict(version=1, embedding={'weight_dict.user':
                                          Payload(marker)}), path)
    out = tmp_path / 'run'
    out.mkdir()
    cfg = get_cfg(out, [f'+init_from={path}'])
    with pytest.raises(UnsafeFileError, match="Refused to load the "
                       "'init_from' checkpoint '.*given.pt'"):
        run(cfg)
    assert not osp.exists(marker) and os.listdir(out) == []


@pytest.mark.parametrize('name', ['pre_transform.pt', 'pre_filter.pt',
                                  'data.pt'])
def test_processed_folder(tmp_path, monkeypatch, name):
    # A dataset folder from an archive, with one processed file replaced.
    monkeypatch.delenv('RLMREC_DATA_CACHE', raising=False)
    marker = str(tmp_path / 'RAN')
    write_official_split(tmp_path / 'yelp' / 'raw', extras=False)
    RLMRecDataset(str(tmp_path), 'yelp')
    processed = tmp_path / 'yelp' / 'processed'
    torch.save(Payload(marker), processed / name)
    before = _files(tmp_path)
    with pytest.raises(UnsafeFileError, match=f"processed file of "
                       f"RLMRecDataset '.*{name}': it names code to run"):
        RLMRecDataset(str(tmp_path), 'yelp')
    assert not osp.exists(marker) and _files(tmp_path) == before
    # A truncated processed file: one error saying what to do.
    if name == 'data.pt':
        (processed / name).write_bytes(b'PK\x03\x04 not a whole file')
        with pytest.raises(CorruptFileError, match='truncated'):
            RLMRecDataset(str(tmp_path), 'yelp')


def test_processed_folder_of_your_own_csv(tmp_path):
    marker = str(tmp_path / 'RAN')
    csv = tmp_path / 'ratings.csv'
    csv.write_text('user,item\n' + ''.join(f'u{u},i{(u * 3 + k) % 7}\n'
                                           for u in range(6)
                                           for k in range(4)))
    root = tmp_path / 'root'
    InteractionCSV(str(root), str(csv), force_reload=False)
    torch.save(Payload(marker), root / 'processed' / 'data.pt')
    with pytest.raises(UnsafeFileError, match='InteractionCSV'):
        InteractionCSV(str(root), str(csv), force_reload=False)
    assert not osp.exists(marker)


def test_official_pickle(tmp_path, monkeypatch):
    monkeypatch.delenv('RLMREC_DATA_CACHE', raising=False)
    marker = str(tmp_path / 'RAN')
    raw = tmp_path / 'yelp' / 'raw'
    write_official_split(raw, extras=False)
    with open(raw / 'tst_mat.pkl', 'wb') as f:
        pickle.dump({'mat': Payload(marker)}, f)
    with pytest.raises(UnsafeFileError, match="tst_mat.pkl': it names the "
                       "global 'builtins.exec'"):
        RLMRecDataset(str(tmp_path), 'yelp')
    assert not osp.exists(marker)
    assert not osp.exists(tmp_path / 'yelp' / 'processed' / 'data.pt')
