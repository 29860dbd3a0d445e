import math
import os.path as osp
import sys

import pytest
import torch

from rlmrec_pyg.data import BPRSampler
from rlmrec_pyg.nn import (DCCF, KAR, SGL, AutoCF, ContrastiveAlignment,
                           LightGCN, MaskedGenerativeAlignment, Objective,
                           Recommender, TrainBatch)
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.train import evaluate, train_epoch, train_step
from rlmrec_pyg.train.loop import loss_weights
from rlmrec_pyg.typing import EDGE, ITEM, USER

sys.path.insert(0, osp.join(osp.dirname(__file__), '..', 'nn'))
from alignment_helpers import mlp  # noqa: E402

#: AutoCF's terms besides 'rec' and 'reg', at their official weights.
AUTOCF_WEIGHTS = {'ssl': 5.0, 'ssl_cross': 1.0, 'infomax': 1.0}


def get_data(sem_channels=0):
    torch.manual_seed(0)
    return get_random_rec_data(num_users=40, num_items=50,
                               num_interactions=600,
                               sem_channels=sem_channels)


def batch(data, n=64, generator=None):
    gen = torch.Generator().manual_seed(0)
    return TrainBatch(torch.randint(40, (n, ), generator=gen),
                      torch.randint(50, (n, ), generator=gen),
                      torch.randint(50, (n, ), generator=gen), data,
                      generator)


def recommender(encoder, data):
    return Recommender(encoder, data, embedding_dim=8)


def test_ssl_loss_gets_positive_and_negative_items(monkeypatch):
    # SGL contrasts the positive *and* negative items of the batch.
    # Mutation: objective.batch_index without the negatives.
    data = get_data()
    model = recommender(SGL(8, num_layers=2), data)
    seen = {}

    def spy(x_dict, edge_index_dict, index_dict, **kwargs):
        seen.update(index_dict)
        return x_dict[USER].sum() * 0

    monkeypatch.setattr(model.encoder, 'ssl_loss', spy)
    b = batch(data)
    _, terms = train_step(model, b, loss_weights({'ssl': 0.1}))
    assert 'ssl' in terms
    assert [t.tolist() for t in seen[USER]] == [b.user.tolist()]
    assert [t.tolist() for t in seen[ITEM]] == [b.pos.tolist(),
                                                b.neg.tolist()]


def test_contrastive_terms_of_the_batch(monkeypatch):
    # The official Con aligns the batch's users, positive and negative items
    # (three InfoNCE terms); AutoCF's has no negative-item term.
    # Mutations: objective.batch_index without the negatives;
    # ContrastiveAlignment.loss_terms aligning batch_index(batch) instead of
    # the encoder's alignment_index.
    data = get_data(sem_channels=12)
    seen = []
    weights = loss_weights(dict(AUTOCF_WEIGHTS, align=0.1))
    for encoder, items in ((LightGCN(8, num_layers=1), 2),
                           (AutoCF(8, num_seeds=5), 1)):
        model = recommender(ContrastiveAlignment(encoder), data)
        wrapper = model.encoder
        spy = wrapper.alignment_loss
        monkeypatch.setattr(wrapper, 'alignment_loss', lambda z, s, index:
                            seen.append(index) or spy(z, s, index))
        b = batch(data)
        _, terms = train_step(model, b, weights)
        assert 'align' in terms
        index = seen[-1]
        assert [t.tolist() for t in index[USER]] == [b.user.tolist()]
        assert [t.tolist() for t in index[ITEM]] == \
            [b.pos.tolist(), b.neg.tolist()][:items]


class RecordingLightGCN(LightGCN):
    r"""A LightGCN whose objective records the input it trains on and adds
    an :obj:`"ssl"` term of its own (a backbone's SSL term)."""
    def loss_terms(self, x_dict, edge_index_dict, batch):
        self.seen = x_dict
        z_dict, terms = super().loss_terms(x_dict, edge_index_dict, batch)
        terms['ssl'] = x_dict[ITEM].pow(2).mean()
        return z_dict, terms


def test_generative_objective_sees_the_masked_input():
    # RLMRec-Gen runs the encoder's whole objective (BPR and its SSL term)
    # on the masked input. Mutation: MaskedGenerativeAlignment.loss_terms
    # passing x_dict instead of mask_inputs(x_dict, mask_dict).
    data = get_data(sem_channels=12)
    encoder = RecordingLightGCN(8, num_layers=1)
    model = recommender(MaskedGenerativeAlignment(encoder, mask_ratio=0.3),
                        data)
    with torch.no_grad():
        model.encoder.mask_token.fill_(7.0)
    loss, terms = train_step(
        model, batch(data, generator=torch.Generator().manual_seed(3)),
        loss_weights({'ssl': 1.0, 'align': 0.5}))
    assert math.isfinite(float(loss.detach()))
    assert set(terms) == {'rec', 'reg', 'ssl', 'align'}
    # The mask drawn in the step is reproduced by the same generator.
    sizes = {nt: x.size(0) for nt, x in model.embedding().items()}
    mask = model.encoder.sample_mask(sizes, torch.Generator().manual_seed(3))
    for nt in (USER, ITEM):
        seen = encoder.seen[nt]
        assert 0 < int(mask[nt].sum()) < sizes[nt]
        assert bool((seen[mask[nt]] == 7.0).all())
        assert not bool((seen[~mask[nt]] == 7.0).any())


def test_kar_trains_and_evaluates_with_semantic_inputs():
    # Mutation: KAR.loss_terms passing x_dict instead of its inputs (the
    # adaptors would get no gradient).
    data = get_data(sem_channels=12)
    model = recommender(KAR(LightGCN(8, num_layers=2)), data)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    adaptor = model.encoder.adaptor[ITEM].mlp[0].weight
    before = adaptor.detach().clone()
    sampler = BPRSampler(data[EDGE].edge_index, 50)
    out = train_epoch(model, data, optimizer, sampler, batch_size=128)
    assert set(out) == {'loss', 'rec', 'reg'}  # KAR adds no term
    assert math.isfinite(out['loss'])
    assert not torch.equal(before, adaptor)
    metrics = evaluate(model, data, 'val')
    assert 0.0 <= metrics['recall@20'] <= 1.0


class _RecomputingDCCF(DCCF):
    # BPR on a plain forward, the contrast on views it recomputes.
    def loss_terms(self, x_dict, edge_index_dict, batch):
        z_dict, terms = Objective.loss_terms(self, x_dict, edge_index_dict,
                                             batch)
        terms['ssl'] = self.ssl_loss(x_dict, edge_index_dict,
                                     {USER: [batch.user],
                                      ITEM: [batch.pos, batch.neg]})
        return z_dict, terms


def test_dccf_step_runs_one_forward(monkeypatch):
    # The contrast reuses the training forward's views (no second pass).
    # Mutation: DCCF.loss_terms calling ssl_loss without views=views.
    data = get_data()
    model = recommender(DCCF(8, num_layers=2, num_intents=4), data)
    calls = []
    propagate = model.encoder.propagate
    monkeypatch.setattr(model.encoder, 'propagate',
                        lambda *a: calls.append(1) or propagate(*a))
    weights = loss_weights({'ssl': 1e-3})
    loss, terms = train_step(model, batch(data), weights)
    assert len(calls) == 1 and math.isfinite(float(loss.detach()))
    # The same terms as the step that recomputes the views.
    recomputing = _RecomputingDCCF(8, num_layers=2, num_intents=4)
    recomputing.load_state_dict(model.encoder.state_dict())
    again, again_terms = train_step(
        Recommender(recomputing, embedding=model.embedding), batch(data),
        weights)
    loss, again = float(loss.detach()), float(again.detach())
    assert abs(loss - again) < 1e-5 * abs(loss)
    for name in ('rec', 'ssl'):
        assert float(again_terms[name].detach()) == pytest.approx(
            float(terms[name].detach()), rel=1e-5)


def test_kar_keeps_the_backbone_ssl_loss_on_its_inputs(monkeypatch):
    # SGL+KAR (Table 2): SGL's contrast runs, on x + MLP(sem_emb); KAR
    # around a backbone without SSL adds none. Mutation: KAR.loss_terms
    # passing x_dict instead of its inputs.
    data = get_data(sem_channels=12)
    model = recommender(KAR(SGL(8, num_layers=2)), data)
    plain = recommender(KAR(LightGCN(8)), data)
    assert set(train_step(plain, batch(data), loss_weights())[1]) == \
        {'rec', 'reg'}
    seen = {}

    def spy(x_dict, edge_index_dict, index_dict, **kwargs):
        seen.update(x_dict)
        return x_dict[USER].sum() * 0

    monkeypatch.setattr(model.encoder.encoder, 'ssl_loss', spy)
    _, terms = train_step(model, batch(data), loss_weights({'ssl': 0.1}))
    assert 'ssl' in terms
    x_dict = model.embedding()
    for nt in (USER, ITEM):
        expected = x_dict[nt] + mlp(model.encoder, nt, data[nt].sem_emb)
        assert torch.allclose(seen[nt], expected, atol=1e-6)


def test_autocf_resamples_graphs_and_uses_its_own_losses(monkeypatch):
    # Mutations: AutoCF.training_graph sampling at every step (ignoring
    # resample_every); AutoCF.loss_terms recomputing the forward in
    # ssl_loss (z_dict not passed).
    data = get_data()
    model = recommender(AutoCF(8, num_seeds=5, resample_every=2), data)
    autocf = model.encoder
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    calls = {'sample': 0, 'rec': 0, 'ssl_z': 0}
    sample, rec, ssl = (autocf.sample_graph, autocf.recommendation_loss,
                        autocf.ssl_loss)

    def sample_spy(*args, **kwargs):
        calls['sample'] += 1
        return sample(*args, **kwargs)

    def rec_spy(*args, **kwargs):
        calls['rec'] += 1
        return rec(*args, **kwargs)

    def ssl_spy(x_dict, edge_index_dict, index_dict, z_dict=None):
        calls['ssl_z'] += z_dict is not None
        assert len(index_dict[ITEM]) == 2
        return ssl(x_dict, edge_index_dict, index_dict, z_dict=z_dict)

    monkeypatch.setattr(autocf, 'sample_graph', sample_spy)
    monkeypatch.setattr(autocf, 'recommendation_loss', rec_spy)
    monkeypatch.setattr(autocf, 'ssl_loss', ssl_spy)
    sampler = BPRSampler(data[EDGE].edge_index, 50)
    weights = loss_weights(AUTOCF_WEIGHTS)
    out = train_epoch(model, data, optimizer, sampler, batch_size=100,
                      weights=weights, generator=torch.Generator())
    num_batches = math.ceil(data[EDGE].edge_index.size(1) / 100)
    assert math.isfinite(out['loss'])
    assert calls['sample'] == math.ceil(num_batches / 2)
    assert calls['rec'] == calls['ssl_z'] == num_batches
    # Every term is reported, and the mean loss is their weighted sum.
    assert set(out) == {'loss', 'rec', 'reg', *AUTOCF_WEIGHTS}
    total = sum(weights[name] * value for name, value in out.items()
                if name != 'loss')
    assert out['loss'] == pytest.approx(total, rel=1e-6)


def test_term_without_a_weight_names_it():
    # Mutation: weighted_sum skipping terms without a weight.
    data = get_data()
    model = recommender(SGL(8, num_layers=2), data)
    with pytest.raises(ValueError, match=r"The model returned the loss terms "
                       r"\['rec', 'reg', 'ssl'\], but 'loss_weights' has no "
                       r"weight for \['ssl'\]"):
        train_step(model, batch(data), loss_weights())


ROOT = osp.join(osp.dirname(__file__), '..', '..', 'rlmrec_pyg')


def source(path):
    with open(osp.join(ROOT, path), encoding='utf-8') as f:
        return f.read()


@pytest.mark.parametrize('path', ['train/loop.py', 'train/trainer.py'])
def test_loop_does_not_duck_type(path):
    # The loop and the trainer know models through the contract only
    # (Recommender.loss_terms), never by probing attributes. Mutation: a
    # hasattr(...) hook in train_epoch.
    text = source(path)
    for word in ('hasattr', 'getattr', '__getattr__', 'inspect'):
        assert word not in text, (path, word)


@pytest.mark.parametrize('path', ['nn/alignment_base.py', 'nn/alignment.py',
                                  'nn/kar.py'])
def test_wrappers_do_not_forward_attributes(path):
    # A wrapper states its own objective; it does not forward unknown
    # attributes (ssl_loss, ...) to the encoder. Mutation: a
    # __getattr__ forwarding to self.encoder in AlignmentBase.
    assert 'def __getattr__' not in source(path), path
