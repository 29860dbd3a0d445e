import math
import os.path as osp
import sys

import torch

from rlmrec_pyg.data import BPRSampler
from rlmrec_pyg.nn import (DCCF, KAR, SGL, AutoCF, ContrastiveAlignment,
                           LightGCN, MaskedGenerativeAlignment, NodeEmbedding)
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.train import evaluate, train_epoch, train_step
from rlmrec_pyg.typing import EDGE, ITEM, USER

sys.path.insert(0, osp.join(osp.dirname(__file__), '..', 'nn'))
from alignment_helpers import TinyEncoder, mlp  # noqa: E402


def get_data(sem_channels=0):
    torch.manual_seed(0)
    return get_random_rec_data(num_users=40, num_items=50,
                               num_interactions=600,
                               sem_channels=sem_channels)


def batch(n=64):
    gen = torch.Generator().manual_seed(0)
    return (torch.randint(40, (n, ), generator=gen),
            torch.randint(50, (n, ), generator=gen),
            torch.randint(50, (n, ), generator=gen))


def test_ssl_loss_gets_positive_and_negative_items(monkeypatch):
    # SGL contrasts the positive *and* negative items of the batch.
    data = get_data()
    model, embedding = SGL(8, num_layers=2), NodeEmbedding({
        USER: 40,
        ITEM: 50
    }, 8)
    seen = {}

    def spy(x_dict, edge_index_dict, index_dict, **kwargs):
        seen.update(index_dict)
        return x_dict[USER].sum() * 0

    monkeypatch.setattr(model, 'ssl_loss', spy)
    user, pos, neg = batch()
    train_step(model, embedding, data, user, pos, neg)
    assert torch.equal(seen[USER], user)
    assert [t.tolist() for t in seen[ITEM]] == [pos.tolist(), neg.tolist()]


def test_contrastive_terms_of_the_batch(monkeypatch):
    # The official Con aligns the batch's users, positive and negative items
    # (three InfoNCE terms); AutoCF's has no negative-item term.
    data = get_data(sem_channels=12)
    seen = []
    for encoder, items in ((LightGCN(8, num_layers=1), 2),
                           (AutoCF(8, num_seeds=5), 1)):
        model = ContrastiveAlignment(encoder, 12, 8)
        spy = model.alignment_loss
        monkeypatch.setattr(model, 'alignment_loss', lambda z, s, index:
                            seen.append(index) or spy(z, s, index))
        embedding = NodeEmbedding({USER: 40, ITEM: 50}, 8)
        user, pos, neg = batch()
        train_step(model, embedding, data, user, pos, neg,
                   alignment_weight=0.1)
        index = seen[-1]
        assert [t.tolist() for t in index[USER]] == [user.tolist()]
        assert [t.tolist() for t in index[ITEM]] == \
            [pos.tolist(), neg.tolist()][:items]


def test_generative_ssl_loss_sees_the_masked_input():
    data = get_data(sem_channels=12)
    encoder = TinyEncoder(8, 8)
    model = MaskedGenerativeAlignment(encoder, 8, 12, 8, mask_ratio=0.3)
    with torch.no_grad():
        model.mask_token.fill_(7.0)
    embedding = NodeEmbedding({USER: 40, ITEM: 50}, 8)
    loss = train_step(model, embedding, data, *batch(), alignment_weight=0.5,
                      generator=torch.Generator().manual_seed(3))
    assert math.isfinite(float(loss.detach()))
    # The mask drawn by train_step is reproduced by the same generator.
    sizes = {nt: x.size(0) for nt, x in embedding().items()}
    mask = model.sample_mask(sizes, torch.Generator().manual_seed(3))
    for nt in (USER, ITEM):
        seen = encoder.seen[nt]
        assert bool((seen[mask[nt]] == 7.0).all())
        assert not bool((seen[~mask[nt]] == 7.0).any())


def test_kar_trains_and_evaluates_with_semantic_inputs():
    data = get_data(sem_channels=12)
    model = KAR(LightGCN(8, num_layers=2), sem_channels=12, in_channels=8)
    embedding = NodeEmbedding({USER: 40, ITEM: 50}, 8)
    params = list(model.parameters()) + list(embedding.parameters())
    optimizer = torch.optim.Adam(params, lr=1e-2)
    before = model.adaptor[ITEM].mlp[0].weight.detach().clone()
    sampler = BPRSampler(data[EDGE].edge_index, 50)
    out = train_epoch(model, embedding, data, optimizer, sampler,
                      batch_size=128)
    assert math.isfinite(out['loss'])
    assert not torch.equal(before, model.adaptor[ITEM].mlp[0].weight)
    metrics = evaluate(model, embedding, data, 'val')
    assert 0.0 <= metrics['recall@20'] <= 1.0


def test_dccf_step_runs_one_forward(monkeypatch):
    # The contrast reuses the training forward's views (no second pass).
    data = get_data()
    model = DCCF(8, num_layers=2, num_intents=4)
    embedding = NodeEmbedding({USER: 40, ITEM: 50}, 8)
    calls = []
    propagate = model.propagate
    monkeypatch.setattr(model, 'propagate',
                        lambda *a: calls.append(1) or propagate(*a))
    loss = train_step(model, embedding, data, *batch())
    assert len(calls) == 1 and math.isfinite(float(loss.detach()))
    # The same loss as the step that recomputes the views.
    recomputing = _RecomputingDCCF(8, num_layers=2, num_intents=4)
    recomputing.load_state_dict(model.state_dict())
    again = train_step(recomputing, embedding, data, *batch())
    assert abs(float(loss) - float(again)) < 1e-5 * abs(float(loss))


class _RecomputingDCCF(DCCF):
    # An ssl_loss without the `views` parameter: the loop cannot reuse.
    def ssl_loss(self, x_dict, edge_index_dict, index_dict):
        return super().ssl_loss(x_dict, edge_index_dict, index_dict)


def test_kar_keeps_the_backbone_ssl_loss_on_its_inputs(monkeypatch):
    # SGL+KAR (Table 2): SGL's contrast runs, on x + MLP(sem_emb).
    data = get_data(sem_channels=12)
    model = KAR(SGL(8, num_layers=2), sem_channels=12, in_channels=8)
    assert not hasattr(KAR(LightGCN(8), 12, 8), 'ssl_loss')
    embedding = NodeEmbedding({USER: 40, ITEM: 50}, 8)
    seen = {}

    def spy(x_dict, edge_index_dict, index_dict, **kwargs):
        seen.update(x_dict)
        return x_dict[USER].sum() * 0

    monkeypatch.setattr(model.encoder, 'ssl_loss', spy)
    train_step(model, embedding, data, *batch())
    x_dict = embedding()
    for nt in (USER, ITEM):
        expected = x_dict[nt] + mlp(model, nt, data[nt].sem_emb)
        assert torch.allclose(seen[nt], expected, atol=1e-6)


def test_autocf_resamples_graphs_and_uses_its_own_losses(monkeypatch):
    data = get_data()
    model = AutoCF(8, num_seeds=5, resample_every=2)
    embedding = NodeEmbedding({USER: 40, ITEM: 50}, 8)
    params = list(model.parameters()) + list(embedding.parameters())
    optimizer = torch.optim.Adam(params, lr=1e-2)
    calls = {'sample': 0, 'rec': 0, 'ssl_z': 0}
    sample, rec, ssl = (model.sample_graph, model.recommendation_loss,
                        model.ssl_loss)

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

    monkeypatch.setattr(model, 'sample_graph', sample_spy)
    monkeypatch.setattr(model, 'recommendation_loss', rec_spy)
    monkeypatch.setattr(model, 'ssl_loss', ssl_spy)
    sampler = BPRSampler(data[EDGE].edge_index, 50)
    out = train_epoch(model, embedding, data, optimizer, sampler,
                      batch_size=100, generator=torch.Generator())
    num_batches = math.ceil(data[EDGE].edge_index.size(1) / 100)
    assert math.isfinite(out['loss'])
    assert calls['sample'] == math.ceil(num_batches / 2)
    assert calls['rec'] == calls['ssl_z'] == num_batches
