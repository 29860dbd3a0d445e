r"""Every knob of a run reaches what it controls.

Each test turns one knob of a composed run config (``debug=fast``: the
fake graph, one step per epoch) and checks its effect where it acts: the
step-0 loss (identical initial state, so the loss is exactly affine in a
loss weight), the graph the trainer receives (spied on at
:meth:`Trainer.fit`), or the trainer's checkpoint selection (with scripted
validation metrics). ``tests/mutation_check.py`` lists the mutation each
test kills."""
import copy
import math

import pytest
import torch
from run_helpers import get_cfg, run

import rlmrec_pyg.testing
import rlmrec_pyg.train.trainer as trainer_module
from rlmrec_pyg.nn import (ContrastiveAlignment, LightGCN, NodeEmbedding,
                           Recommender)
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.train import Trainer, load_checkpoint
from rlmrec_pyg.typing import EDGE, ITEM, SEM_EMB, TEST_INDEX, USER, VAL_INDEX


@pytest.fixture
def fits(monkeypatch):
    r"""Records what every :meth:`Trainer.fit` receives (a copy of the
    graph, the encoder and the ID embeddings' state) and every epoch's
    loss."""
    calls = []
    fit = Trainer.fit

    def spy(self, model, data, optimizer, resume=False, tracker=None):
        calls.append(dict(trainer=self, model=model.encoder,
                          data=copy.copy(data), losses=[],
                          embedding={k: v.detach().clone() for k, v in
                                     model.embedding.state_dict().items()}))
        return fit(self, model, data, optimizer, resume, tracker)

    epoch = trainer_module.train_epoch

    def epoch_spy(*args, **kwargs):
        out = epoch(*args, **kwargs)
        calls[-1]['losses'].append(out['loss'])
        return out

    monkeypatch.setattr(Trainer, 'fit', spy)
    monkeypatch.setattr(trainer_module, 'train_epoch', epoch_spy)
    return calls


def first_loss(tmp_path, fits, overrides):
    run(get_cfg(tmp_path, ['trainer.max_epochs=1'] + overrides))
    return fits[-1]['losses'][0]


def assert_affine(losses, weights):
    # loss(w) = base + w * term, with term != 0.
    (l0, l1, l2), (w0, w1, w2) = losses, weights
    slope = (l1 - l0) / (w1 - w0)
    assert abs(slope) > 1e-3, losses
    assert l2 == pytest.approx(l0 + slope * (w2 - w0), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize('alignment', ['contrastive', 'generative'])
def test_alignment_weight_scales_the_alignment_term(tmp_path, fits,
                                                    alignment):
    weights = (0.0, 0.5, 1.5)
    losses = [
        first_loss(tmp_path, fits, [f'alignment={alignment}',
                                    f'trainer.loss_weights.align={w}'])
        for w in weights
    ]
    assert_affine(losses, weights)
    assert fits[-1]['trainer'].loss_weights['align'] == 1.5


def test_ssl_weight_scales_the_ssl_term(tmp_path, fits):
    weights = (0.1, 0.2, 0.4)
    losses = [
        first_loss(tmp_path, fits, ['model=sgl',
                                    f'trainer.loss_weights.ssl={w}'])
        for w in weights
    ]
    assert_affine(losses, weights)


def test_l2_weight_and_mode(tmp_path, fits):
    weights = (0.0, 0.5, 1.0)
    losses = [
        first_loss(tmp_path, fits, [f'trainer.loss_weights.reg={w}'])
        for w in weights
    ]
    assert_affine(losses, weights)
    # 'batch' regularises the batch rows only, 'all' every parameter.
    batch = first_loss(tmp_path, fits, ['trainer.loss_weights.reg=1.0',
                                        'trainer.reg=batch'])
    assert batch != pytest.approx(losses[2], rel=1e-4)


def test_generative_forward_is_masked(tmp_path, fits):
    # With no alignment term and no L2, RLMRec-Gen's loss is BPR on the
    # masked forward: it differs from the base model's BPR (GCCF: a
    # forward without randomness, so only the mask can make a difference).
    no_reg = 'trainer.loss_weights.reg=0'
    plain = first_loss(tmp_path, fits, [no_reg, 'model=gccf'])
    masked = first_loss(tmp_path, fits, [no_reg, 'model=gccf',
                                         'alignment=generative',
                                         'trainer.loss_weights.align=0',
                                         'alignment.module.mask_ratio=0.5'])
    assert masked != pytest.approx(plain, rel=1e-4)


def test_shuffle_semantic_permutes_the_vectors(tmp_path, fits):
    run(get_cfg(tmp_path, ['alignment=contrastive']))
    run(get_cfg(tmp_path, ['alignment=contrastive', 'shuffle_semantic=true']))
    clean, shuffled = (f['data'] for f in fits)
    for nt in (USER, ITEM):
        old, new = clean[nt][SEM_EMB], shuffled[nt][SEM_EMB]
        assert not torch.equal(old, new)
        # The same rows in another order.
        assert torch.equal(old.sort(0).values, new.sort(0).values)
    assert fits[0]['losses'] != pytest.approx(fits[1]['losses'])


@pytest.fixture
def timestamps(monkeypatch):
    original = rlmrec_pyg.testing.get_random_rec_data

    def with_time(*args, **kwargs):
        data = original(*args, **kwargs)
        gen = torch.Generator().manual_seed(1)
        for key, t in (('edge_index', 'time'), (VAL_INDEX, 'val_time'),
                       (TEST_INDEX, 'test_time')):
            n = data[EDGE][key].size(1)
            data[EDGE][t] = torch.randint(10_000, (n, ), generator=gen)
        return data

    monkeypatch.setattr(rlmrec_pyg.testing, 'get_random_rec_data', with_time)
    return with_time


def test_time_window_keeps_the_window(tmp_path, fits, timestamps):
    full = timestamps(num_users=60, num_items=80, num_interactions=900,
                      sem_channels=16, with_text=False, seed=0)
    run(get_cfg(tmp_path, ['+time_window=[0.25,0.75]']))
    data = fits[-1]['data']
    times = torch.cat([full[EDGE][t] for t in ('time', 'val_time',
                                               'test_time')]).double()
    lo, hi = torch.quantile(times, torch.tensor([0.25, 0.75],
                                                dtype=torch.float64))
    for key, t in (('edge_index', 'time'), (VAL_INDEX, 'val_time'),
                   (TEST_INDEX, 'test_time')):
        keep = (full[EDGE][t] >= lo) & (full[EDGE][t] < hi)
        assert torch.equal(data[EDGE][key], full[EDGE][key][:, keep])
    assert data[EDGE].edge_index.size(1) < full[EDGE].edge_index.size(1)


def test_noise_ratio_adds_training_pairs(tmp_path, fits):
    run(get_cfg(tmp_path, ['noise_ratio=0.25']))
    data = fits[-1]['data']
    clean = get_random_rec_data(num_users=60, num_items=80,
                                num_interactions=900, sem_channels=16,
                                with_text=False, seed=0)
    num = clean[EDGE].edge_index.size(1)
    assert data[EDGE].edge_index.size(1) == num + math.floor(0.25 * num)
    assert torch.equal(data[EDGE].edge_index[:, :num],
                       clean[EDGE].edge_index)
    assert torch.equal(data[EDGE][TEST_INDEX], clean[EDGE][TEST_INDEX])


def test_init_from_initialises_the_embedding(tmp_path, fits):
    (tmp_path / 'pre').mkdir()
    run(get_cfg(tmp_path / 'pre', ['seed=5']))
    saved = load_checkpoint(str(tmp_path / 'pre' / 'best.pt'))['embedding']
    run(get_cfg(tmp_path, [f'+init_from={tmp_path / "pre" / "best.pt"}']))
    start = fits[-1]['embedding']
    assert set(start) == set(saved)
    for key in saved:
        assert torch.equal(start[key], saved[key])


def test_pretrain_then_finetune_without_alignment(tmp_path, fits):
    run(get_cfg(tmp_path, ['+pretrain.enabled=true', 'alignment=contrastive',
                           'trainer.max_epochs=1']))
    pre, down = fits
    assert isinstance(pre['model'], ContrastiveAlignment)
    assert isinstance(down['model'], LightGCN)
    assert pre['trainer'].loss_weights['align'] > 0
    assert 'align' not in down['trainer'].loss_weights
    saved = load_checkpoint(str(tmp_path / 'pretrain' / 'best.pt'))
    for key, value in saved['embedding'].items():
        assert torch.equal(down['embedding'][key], value)


# The trainer's protocol, with scripted validation metrics.
SCRIPT = [  # epoch -> (recall@5, recall@20)
    (0.30, 0.10), (0.10, 0.40), (0.50, 0.20), (0.20, 0.30), (0.60, 0.35),
    (0.10, 0.10), (0.10, 0.10), (0.10, 0.10), (0.10, 0.10), (0.10, 0.10),
]


def scripted_fit(monkeypatch, tmp_path, **kwargs):
    data = get_random_rec_data(num_users=20, num_items=30, sem_channels=0)
    torch.manual_seed(0)
    embedding = NodeEmbedding({USER: 20, ITEM: 30}, 8)
    model = Recommender(LightGCN(8, num_layers=1), embedding=embedding)
    optimizer = torch.optim.Adam([*embedding.parameters()], lr=0.05)
    seen, states = [], {}

    def evaluate(self, model, data, split):
        if split == 'test':
            return {'recall@5': 0.0, 'recall@20': 0.0, 'ndcg@20': 0.0}
        i = len(seen)
        seen.append(i)
        states[i] = embedding.weight_dict[USER].detach().clone()
        r5, r20 = SCRIPT[i] if i < len(SCRIPT) else (0.0, 0.0)
        return {'recall@5': r5, 'recall@20': r20, 'ndcg@20': r20}

    monkeypatch.setattr(Trainer, '_evaluate', evaluate)
    trainer = Trainer(batch_size=64, ks=[5, 20], **kwargs)
    out = trainer.fit(model, data, optimizer)
    return out, seen, states, embedding


def test_checkpoint_selection_patience_and_eval_every(monkeypatch, tmp_path):
    out, seen, states, embedding = scripted_fit(
        monkeypatch, tmp_path, max_epochs=100, eval_every=2, patience=3)
    # Validations at epochs 0, 2, 4, ...: the best recall@20 (the largest
    # K selects) is the 2nd validation, epoch 2; three non-improving
    # validations after it (epochs 4, 6, 8) stop training at epoch 8.
    assert out['best_epoch'] == 2 and out['last_epoch'] == 8
    assert out['stopped_by'] == 'patience'
    # The best state is restored before the final evaluation (which
    # records the restored state as the last validation call).
    assert torch.equal(states[len(seen) - 1], states[1])
    assert not torch.equal(states[len(seen) - 2], states[1])
