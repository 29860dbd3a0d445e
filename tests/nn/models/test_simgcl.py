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

from rlmrec_pyg.nn import SimGCL, TrainBatch
from rlmrec_pyg.typing import ITEM, USER


def test_simgcl_view_matches_naive_noise_loop():
    data, emb = fake_data(), embedding()
    model = SimGCL(DIM, num_layers=3, eps=0.9)
    assert str(model) == 'SimGCL(8, num_layers=3, eps=0.9, temperature=0.2)'
    x_dict = emb()
    torch.manual_seed(3)
    view = model.view(x_dict, data.edge_index_dict)
    # docs/parity.md#simgcl-noise: E' = A E + eps * sign(A E) * unit-row
    # U[0,1) noise
    # after every layer; the sum includes the unperturbed E^(0).
    torch.manual_seed(3)
    adj = dense_adj(data)
    h = torch.cat([x_dict[USER], x_dict[ITEM]]).detach()
    out = h.clone()
    for _ in range(3):
        h = adj @ h
        noise = torch.rand_like(h)
        noise = noise / noise.norm(dim=-1, keepdim=True)
        h = h + 0.9 * torch.sign(h) * noise
        out = out + h
    assert torch.allclose(view[USER], out[:NUM_USERS], atol=1e-5)
    assert torch.allclose(view[ITEM], out[NUM_USERS:], atol=1e-5)
    clean = model(x_dict, data.edge_index_dict)  # no noise, no dropout
    assert clean[USER].size() == (NUM_USERS, DIM)
    model.eps = 0.0
    assert torch.allclose(model.view(x_dict, data.edge_index_dict)[ITEM],
                          clean[ITEM], atol=1e-6)


def test_simgcl_eval_is_deterministic():
    data, emb = fake_data(), embedding()
    model = SimGCL(DIM).eval()
    out1 = model(emb(), data.edge_index_dict)
    out2 = model(emb(), data.edge_index_dict)
    assert torch.equal(out1[USER], out2[USER])


def test_simgcl_ssl_loss_matches_naive():
    data, emb = fake_data(), embedding()
    model = SimGCL(DIM, eps=0.2, temperature=0.5)
    user, pos, neg = batch()
    torch.manual_seed(11)
    loss = model.ssl_loss(emb(), data.edge_index_dict,
                          {USER: user, ITEM: [pos, neg]})
    torch.manual_seed(11)
    z1 = model.view(emb(), data.edge_index_dict)
    z2 = model.view(emb(), data.edge_index_dict)
    # Users and positive items only: no negative-item term
    # (docs/parity.md#simgcl-noise).
    ref = naive_nce(z1[USER][user], z2[USER], user.tolist(), 0.5)
    ref += naive_nce(z1[ITEM][pos], z2[ITEM], pos.tolist(), 0.5)
    ref = ref / user.numel()  # unweighted: the trainer weighs 'ssl'
    assert abs(float(loss) - ref) < 1e-4 * max(1.0, ref)
    assert loss.dim() == 0 and loss > 0


def test_simgcl_loss_terms_match_naive():
    # The step's terms: BPR on the clean layer sum, 'ssl' over the users and
    # positive items only, unweighted.
    data, emb = fake_data(), embedding()
    model = SimGCL(DIM, num_layers=2, eps=0.2, temperature=0.5)
    user, pos, neg = batch()
    torch.manual_seed(11)
    _, terms = model.loss_terms(emb(), data.edge_index_dict,
                                TrainBatch(user, pos, neg, data))
    assert list(terms) == ['rec', 'ssl']
    torch.manual_seed(11)  # the same noise
    z1 = model.view(emb(), data.edge_index_dict)
    z2 = model.view(emb(), data.edge_index_dict)
    ssl = (naive_nce(z1[USER][user], z2[USER], user.tolist(), 0.5) +
           naive_nce(z1[ITEM][pos], z2[ITEM], pos.tolist(), 0.5)) / 12
    rec = naive_bpr(layer_sum(emb(), data, 2), user, pos, neg)
    assert abs(float(terms['ssl']) - ssl) < 1e-4 * ssl
    assert abs(float(terms['rec']) - rec) < 1e-5 * rec


def test_simgcl_errors():
    with pytest.raises(ValueError, match="'eps' must be non-negative"):
        SimGCL(DIM, eps=-0.1)


@pytest.mark.parametrize('variant', ['plain', 'con', 'gen'])
def test_simgcl_trains(variant):
    assert_trains(train_losses(SimGCL(DIM, num_layers=2), variant, 0.1))
