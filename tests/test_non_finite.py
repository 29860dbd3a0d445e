r"""No NaN called a result: non-finite semantic vectors are refused where
they enter (dataset pickles, a text encoder, a graph handed to a run or a
trainer), a diverging run stops with one error and writes no metrics, and
evaluation refuses to rank on non-finite scores. Run arguments and study
options out of range are refused before any data work."""
import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from official_files import write_official_split
from run_helpers import get_cfg, run

import rlmrec_pyg.testing
from rlmrec_pyg.data import RLMRecDataset
from rlmrec_pyg.nn import LightGCN, NodeEmbedding, Recommender
from rlmrec_pyg.semantic import AttachSemantic, HashTextEncoder
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.train import Trainer, rank_metrics
from rlmrec_pyg.typing import ITEM, PROFILE, SEM_EMB, USER


@pytest.fixture
def dataset_calls(monkeypatch):
    r"""Counts builds of the fake dataset of ``debug=fast``; item 7 of its
    ``sem_emb`` can be poisoned with :obj:`calls.poison`."""
    calls = []
    original = rlmrec_pyg.testing.get_random_rec_data

    def wrapped(*args, **kwargs):
        data = original(*args, **kwargs)
        calls.append(1)
        if getattr(wrapped, 'poison', None) is not None:
            data[ITEM][SEM_EMB][7, 3] = wrapped.poison
        return data

    monkeypatch.setattr(rlmrec_pyg.testing, 'get_random_rec_data', wrapped)
    return wrapped, calls


@pytest.mark.parametrize('bad', [float('nan'), float('inf')])
def test_run_refuses_non_finite_sem_emb(tmp_path, dataset_calls, bad):
    wrapped, calls = dataset_calls
    wrapped.poison = bad
    cfg = get_cfg(tmp_path, ['alignment=contrastive'])
    with pytest.raises(ValueError, match=r"'sem_emb' of node type 'item' "
                       r"in '.*' holds non-finite values: 1 rows, the "
                       rf"first is row 7 \(a {bad} in it\)"):
        run(cfg)
    assert calls and os.listdir(tmp_path) == []
    # The Python API refuses it too, before the first step.
    data = get_random_rec_data(num_users=60, num_items=80)
    data[USER][SEM_EMB][2, 0] = bad
    model = Recommender(LightGCN(4),
                        embedding=NodeEmbedding({USER: 60, ITEM: 80}, 4))
    with pytest.raises(ValueError, match="node type 'user'.*row 2"):
        Trainer(max_epochs=1).fit(model, data,
                                  torch.optim.Adam(model.parameters()))


def test_official_vectors_with_infinity(tmp_path, monkeypatch):
    monkeypatch.delenv('RLMREC_DATA_CACHE', raising=False)
    raw = tmp_path / 'yelp' / 'raw'
    write_official_split(raw)
    emb = np.random.default_rng(0).random((5, 4))
    emb[4, 1] = np.inf
    with open(raw / 'itm_emb_np.pkl', 'wb') as f:
        pickle.dump(emb, f)
    with pytest.raises(ValueError, match=r"'sem_emb' of node type 'item' "
                       r"from '.*itm_emb_np.pkl' holds non-finite values: "
                       r"1 rows, the first is row 4"):
        RLMRecDataset(str(tmp_path), 'yelp')


def test_encoder_returning_nan_is_refused():
    class Broken(HashTextEncoder):
        def encode(self, texts):
            out = super().encode(texts)
            out[len(texts) - 1] = float('nan')
            return out

    data = get_random_rec_data(num_users=5, num_items=6)
    for nt in (USER, ITEM):
        data[nt][PROFILE] = [f'{nt} {i}' for i in range(data[nt].num_nodes)]
    with pytest.raises(ValueError, match=r"'sem_emb' of node type 'user' "
                       r"from 'hash-16-0'.*row 4"):
        AttachSemantic(Broken(16))(data)


def test_diverging_run_stops_and_writes_no_metrics(tmp_path):
    cfg = get_cfg(tmp_path, ['optimizer.lr=1e30', 'trainer.max_epochs=5'])
    with pytest.raises((FloatingPointError, ValueError), match='diverged'):
        run(cfg)
    assert not osp.exists(tmp_path / 'metrics.json')
    assert not osp.exists(tmp_path / 'best.pt')


def test_non_finite_loss_names_the_step():
    class Exploding(LightGCN):
        def forward(self, x_dict, edge_index_dict):
            out = super().forward(x_dict, edge_index_dict)
            return {k: v * float('inf') for k, v in out.items()}

    data = get_random_rec_data(num_users=20, num_items=30, sem_channels=0)
    model = Recommender(Exploding(4),
                        embedding=NodeEmbedding({USER: 20, ITEM: 30}, 4))
    with pytest.raises(FloatingPointError, match=r'Epoch 0: The training '
                       r'loss is nan at step 0 .*no metrics were written'):
        Trainer(max_epochs=2, batch_size=16).fit(
            model, data, torch.optim.Adam(model.parameters()))


def test_evaluation_refuses_non_finite_scores():
    index = torch.tensor([[0, 1], [1, 0]])
    items = torch.randn(3, 4)
    for bad in (float('nan'), float('inf')):
        users = torch.randn(2, 4)
        users[1, 2] = bad
        with pytest.raises(ValueError, match=r'The user embeddings to rank '
                           r'with holds non-finite values: 1 rows, the '
                           r'first is row 1'):
            rank_metrics(users, items, index)
    with pytest.raises(ValueError, match=r'users 0-1 overflow to infinity'):
        rank_metrics(torch.full((2, 4), 1e20), items.abs() + 1e20, index)
    # Large but safe embeddings are ranked as before.
    out = rank_metrics(torch.full((2, 4), 1e10), items * 1e10, index, ks=[1])
    assert 0.0 <= out['recall@1'] <= 1.0


@pytest.mark.parametrize('override,match', [
    ('noise_ratio=-0.1', "'noise_ratio' must be >= 0"),
    ('noise_ratio=nan', "'noise_ratio' must be finite"),
    ('+time_window=[0.5,0.2]', r"'time_window' must be \[start, end\] "
     r"quantiles with 0 <= start < end <= 1 \(got \[0.5, 0.2\]\)"),
    ('+time_window=[0,2]', r"\(got \[0.0, 2.0\]\)"),
    ('+time_window=0.5', r"'time_window' must be \[start, end\]"),
    ('shuffle_semantic=maybe', "'shuffle_semantic' must be true or false"),
    ('seed=1.5', "'seed' must be an integer"),
    ('trainer.batch_size=0', "'batch_size' must be positive"),
    ('trainer.max_time=-1', "'max_time' must be positive"),
    ('optimizer.lr=-1', 'Invalid learning rate'),
    ('device=gpu0', 'device'),
    ('+init_from=missing.pt', "'init_from' checkpoint '.*missing.pt' does "
     "not exist"),
])
def test_arguments_refused_before_data(tmp_path, dataset_calls, override,
                                       match):
    _, calls = dataset_calls
    cfg = get_cfg(tmp_path, [override])
    with pytest.raises((ValueError, RuntimeError), match=match):
        run(cfg)
    assert calls == [] and os.listdir(tmp_path) == []


@pytest.mark.parametrize('weight', ['-0.01', 'nan'])
def test_loss_weight_refused_before_data(tmp_path, dataset_calls, weight):
    _, calls = dataset_calls
    cfg = get_cfg(tmp_path, ['alignment=contrastive',
                             f'trainer.loss_weights.align={weight}'])
    with pytest.raises(ValueError, match=r"'loss_weights' must map term "
                       r"names to finite numbers >= 0 \(got align="
                       rf"{float(weight)}\)"):
        run(cfg)
    cfg = get_cfg(tmp_path, ['+pretrain.enabled=true',
                             '+pretrain.time_window=[0.3,0.1]'])
    with pytest.raises(ValueError, match="'pretrain.time_window' must be"):
        run(cfg)
    assert calls == []
