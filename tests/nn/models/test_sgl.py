import pytest
import torch
from ssl_helpers import (  # noqa: F401 (single_thread: autouse)
    DIM,
    NUM_USERS,
    assert_trains,
    batch,
    dense_adj,
    embedding,
    fake_data,
    layer_sum,
    naive_bpr,
    naive_nce,
    single_thread,
    train_losses,
)

from rlmrec_pyg.nn import DCCF, SGL, AutoCF, SimGCL, TrainBatch
from rlmrec_pyg.typing import ITEM, USER


def test_sgl_forward_is_clean_layer_sum():
    data, emb = fake_data(), embedding()
    model = SGL(DIM, num_layers=3, edge_drop_rate=0.2)
    assert str(model) == ('SGL(8, num_layers=3, edge_drop_rate=0.2, '
                          'temperature=0.2)')
    x_dict = emb()
    z_dict = model(x_dict, data.edge_index_dict)  # training mode: no drop
    adj = dense_adj(data)
    x = torch.cat([x_dict[USER], x_dict[ITEM]]).detach()
    out, h = x.clone(), x
    for _ in range(3):
        h = adj @ h
        out = out + h
    assert z_dict[USER].size() == (NUM_USERS, DIM)
    assert torch.allclose(z_dict[USER], out[:NUM_USERS], atol=1e-6)
    assert torch.allclose(z_dict[ITEM], out[NUM_USERS:], atol=1e-6)
    model.eval()
    again = model(x_dict, data.edge_index_dict)
    assert torch.equal(again[USER], model(x_dict, data.edge_index_dict)[USER])


def test_sgl_views_drop_edges():
    data, emb = fake_data(), embedding()
    model = SGL(DIM, edge_drop_rate=0.5)
    clean = model(emb(), data.edge_index_dict)
    view = model.view(emb(), data.edge_index_dict)
    assert not torch.allclose(clean[USER], view[USER])
    # Without dropout a view is the clean forward.
    model.edge_drop_rate = 0.0
    view = model.view(emb(), data.edge_index_dict)
    assert torch.allclose(clean[ITEM], view[ITEM], atol=1e-6)


@pytest.mark.parametrize('with_neg', [True, False])
def test_sgl_ssl_loss_matches_naive(with_neg):
    data, emb = fake_data(), embedding()
    model = SGL(DIM, temperature=0.5)
    user, pos, neg = batch()
    items = [pos, neg] if with_neg else pos
    torch.manual_seed(7)
    loss = model.ssl_loss(emb(), data.edge_index_dict,
                          {USER: user, ITEM: items})
    torch.manual_seed(7)  # same two edge masks
    z1 = model.view(emb(), data.edge_index_dict)
    z2 = model.view(emb(), data.edge_index_dict)
    ref = naive_nce(z1[USER][user], z2[USER], user.tolist(), 0.5)
    for item in ([pos, neg] if with_neg else [pos]):
        ref += naive_nce(z1[ITEM][item], z2[ITEM], item.tolist(), 0.5)
    ref = ref / user.numel()  # unweighted: the trainer weighs 'ssl'
    assert loss.dim() == 0 and loss > 0
    assert abs(float(loss) - ref) < 1e-4 * max(1.0, ref)


def test_sgl_loss_terms_match_naive():
    # The step's terms: BPR on the clean layer sum, 'ssl' over the users,
    # positive and negative items, unweighted.
    data, emb = fake_data(), embedding()
    model = SGL(DIM, num_layers=2, temperature=0.5)
    user, pos, neg = batch()
    torch.manual_seed(7)
    _, terms = model.loss_terms(emb(), data.edge_index_dict,
                                TrainBatch(user, pos, neg, data))
    assert list(terms) == ['rec', 'ssl']
    torch.manual_seed(7)  # the same two edge masks
    z1 = model.view(emb(), data.edge_index_dict)
    z2 = model.view(emb(), data.edge_index_dict)
    ssl = sum(
        naive_nce(z1[nt][i], z2[nt], i.tolist(), 0.5)
        for nt, i in ((USER, user), (ITEM, pos), (ITEM, neg))) / 12
    rec = naive_bpr(layer_sum(emb(), data, 2), user, pos, neg)
    assert abs(float(terms['ssl']) - ssl) < 1e-4 * ssl
    assert abs(float(terms['rec']) - rec) < 1e-5 * rec


def test_sgl_errors():
    with pytest.raises(ValueError, match="'temperature' must be positive"):
        SGL(DIM, temperature=0.0)
    model, data, emb = SGL(DIM), fake_data(), embedding()
    with pytest.raises(ValueError, match="'index_dict' must map"):
        model.ssl_loss(emb(), data.edge_index_dict, {USER: batch()[0]})


@pytest.mark.parametrize('variant', ['plain', 'con', 'gen'])
def test_sgl_trains(variant):
    assert_trains(train_losses(SGL(DIM, num_layers=2), variant, 0.1))


@pytest.mark.parametrize('cls,kwargs', [
    (SGL, {}),
    (SimGCL, {}),
    (DCCF, dict(num_intents=4)),
    (AutoCF, dict(heads=2)),
])
def test_ssl_backbone_backends_agree(cls, kwargs):
    data, emb = fake_data(), embedding()
    csr = cls(DIM, **kwargs).eval()
    ref = cls(DIM, backend='edge_index', **kwargs).eval()
    ref.load_state_dict(csr.state_dict())
    out1 = csr(emb(), data.edge_index_dict)
    out2 = ref(emb(), data.edge_index_dict)
    for nt in (USER, ITEM):
        assert torch.allclose(out1[nt], out2[nt], atol=1e-6)
