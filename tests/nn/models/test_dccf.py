import pytest
import torch
from ssl_helpers import (  # noqa: F401 (single_thread: autouse)
    DIM,
    NUM_USERS,
    assert_trains,
    batch,
    cos,
    dense_adj,
    embedding,
    fake_data,
    naive_bpr,
    naive_nce,
    single_thread,
    train_losses,
)

from rlmrec_pyg.nn import DCCF, TrainBatch
from rlmrec_pyg.typing import ITEM, USER


def naive_dccf(model, x, data):
    r"""Official ``dccf.py``, one dense loop per layer and per edge."""
    adj, ones = dense_adj(data), dense_adj(data, normalize=False)
    edges = ones.nonzero().tolist()  # (head, tail), both directions
    out, views = x.clone(), []
    for _ in range(model.num_layers):
        z_gnn = adj @ x
        z_int = torch.cat([
            torch.softmax(x[:NUM_USERS] @ model.user_intent, -1)
            @ model.user_intent.t(),
            torch.softmax(x[NUM_USERS:] @ model.item_intent, -1)
            @ model.item_intent.t()
        ])
        z_ada = []
        for z in (z_gnn, z_int):
            g = torch.zeros_like(adj)
            for h, t in edges:
                g[h, t] = (cos(z[h], z[t]) + 1) / 2
            z_ada.append((g / g.sum(1, keepdim=True).clamp(min=1e-30)) @ x)
        views.append((z_gnn, z_int, *z_ada))
        x = z_gnn + z_int + z_ada[0] + z_ada[1] + x
        out = out + x
    return out, views


def test_dccf_forward_matches_naive():
    data, emb = fake_data(), embedding()
    model = DCCF(DIM, num_layers=2, num_intents=4)
    assert str(model) == ('DCCF(8, num_layers=2, num_intents=4, '
                          "temperature=0.1, item_norm='users')")
    x_dict = emb()
    z_dict = model(x_dict, data.edge_index_dict)
    with torch.no_grad():
        x = torch.cat([x_dict[USER], x_dict[ITEM]])
        ref, _ = naive_dccf(model, x, data)
    assert z_dict[ITEM].size() == (data[ITEM].num_nodes, DIM)
    assert torch.allclose(z_dict[USER], ref[:NUM_USERS], atol=1e-5)
    assert torch.allclose(z_dict[ITEM], ref[NUM_USERS:], atol=1e-5)
    model.eval()
    assert torch.equal(model(x_dict, data.edge_index_dict)[USER],
                       model(x_dict, data.edge_index_dict)[USER])


@pytest.mark.parametrize('item_norm', ['users', 'items'])
def test_dccf_ssl_loss_matches_naive(item_norm):
    data, emb = fake_data(), embedding()
    model = DCCF(DIM, num_layers=2, num_intents=4, temperature=0.3,
                 item_norm=item_norm)
    user, pos, neg = batch()
    x_dict = emb()
    loss = model.ssl_loss(x_dict, data.edge_index_dict,
                          {USER: user, ITEM: [pos, neg]})
    with torch.no_grad():
        x = torch.cat([x_dict[USER], x_dict[ITEM]])
        z_ref, views = naive_dccf(model, x, data)
    users = sorted(set(user.tolist()))
    items = [NUM_USERS + i for i in sorted(set(pos.tolist()))]
    ref = 0.0
    for z_gnn, *others in views:
        for z in others:
            ref += naive_nce(z_gnn[users], z[users], range(len(users)),
                             0.3) / len(users)
            denom = len(users) if item_norm == 'users' else len(items)
            ref += naive_nce(z_gnn[items], z[items], range(len(items)),
                             0.3) / denom
    assert abs(float(loss) - ref) < 1e-4 * max(1.0, ref)
    loss.backward()
    assert model.user_intent.grad is not None
    assert model.item_intent.grad.abs().sum() > 0
    # The step's terms: BPR on the readout and the same 'ssl', unweighted.
    _, terms = model.loss_terms(x_dict, data.edge_index_dict,
                                TrainBatch(user, pos, neg, data))
    assert list(terms) == ['rec', 'ssl']
    assert abs(float(terms['ssl']) - ref) < 1e-4 * max(1.0, ref)
    z = {USER: z_ref[:NUM_USERS], ITEM: z_ref[NUM_USERS:]}
    rec = naive_bpr(z, user, pos, neg)
    assert abs(float(terms['rec']) - rec) < 1e-5 * rec


def test_dccf_ssl_loss_reuses_the_forward_views():
    # forward(..., return_views=True) -> ssl_loss(views=...): the value and
    # every gradient equal the recomputing path (the official single forward).
    data = fake_data()
    model = DCCF(DIM, num_layers=2, num_intents=4, temperature=0.3)
    user, pos, neg = batch()
    grads, losses = [], []
    for reuse in (False, True):
        emb = embedding()
        x_dict = emb()
        index = {USER: user, ITEM: [pos, neg]}
        if reuse:
            z_dict, views = model(x_dict, data.edge_index_dict,
                                  return_views=True)
            ssl = model.ssl_loss(x_dict, data.edge_index_dict, index, views)
        else:
            z_dict = model(x_dict, data.edge_index_dict)
            ssl = model.ssl_loss(x_dict, data.edge_index_dict, index)
        loss = ssl + (z_dict[USER][user] * z_dict[ITEM][pos]).sum()
        model.zero_grad()
        loss.backward()
        losses.append(float(loss))
        grads.append([p.grad.clone() for p in emb.parameters()] +
                     [model.user_intent.grad.clone()])
    assert abs(losses[0] - losses[1]) < 1e-5 * abs(losses[0])
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-6)


def test_dccf_errors():
    with pytest.raises(ValueError, match="Unknown 'item_norm'"):
        DCCF(DIM, item_norm='batch')
    with pytest.raises(ValueError, match="'num_intents' must be positive"):
        DCCF(DIM, num_intents=0)


@pytest.mark.parametrize('variant', ['plain', 'con', 'gen'])
def test_dccf_trains(variant):
    assert_trains(train_losses(DCCF(DIM, num_intents=4), variant, 1e-3))
