import math

import pytest
import torch
from ssl_helpers import (  # noqa: F401 (single_thread: autouse)
    DIM,
    NUM_ITEMS,
    NUM_USERS,
    assert_trains,
    batch,
    cos,
    dense_adj,
    embedding,
    fake_data,
    single_thread,
    train_losses,
)

from rlmrec_pyg.nn import AutoCF, TrainBatch
from rlmrec_pyg.nn.models.autocf import DECODER_EDGE
from rlmrec_pyg.typing import EDGE, ITEM, REV_EDGE, USER

N = NUM_USERS + NUM_ITEMS


def naive_gt(model, x, edges):
    r"""Official ``autocf.py``: per row and head, a softmax over the row's
    edges."""
    w_q, w_k, w_v = [w.detach() for w in model.gt_weights[:3]]
    heads, width = model.heads, DIM // model.heads
    out = torch.zeros_like(x)
    for r in range(x.size(0)):
        cols = [c for (row, c) in edges if row == r]
        for h in range(heads):
            sl = slice(h * width, (h + 1) * width)
            q = (x[r] @ w_q)[sl]
            logit = [float(q @ (x[c] @ w_k)[sl]) for c in cols]
            att = [math.exp(min(max(v, -10.0), 10.0)) for v in logit]
            for a, c in zip(att, cols):
                out[r, sl] += a / sum(att) * (x[c] @ w_v)[sl]
    return out


def test_autocf_eval_forward_matches_naive():
    data, emb = fake_data(), embedding()
    model = AutoCF(DIM, num_layers=2, heads=2).eval()
    assert str(model) == ('AutoCF(8, num_layers=2, num_gt_layers=1, '
                          'heads=2, num_seeds=100)')
    x_dict = emb()
    z_dict = model(x_dict, data.edge_index_dict)
    with torch.no_grad():
        adj = dense_adj(data)
        xs = [torch.cat([x_dict[USER], x_dict[ITEM]])]
        xs += [adj @ xs[0], adj @ adj @ xs[0]]
        # No self-loops: docs/parity.md#autocf-evaluation-graph.
        edges = (adj > 0).nonzero().tolist()
        xs.append(naive_gt(model, xs[-1], edges))
        ref = sum(xs)
    assert torch.allclose(z_dict[USER], ref[:NUM_USERS], atol=1e-5)
    assert torch.allclose(z_dict[ITEM], ref[NUM_USERS:], atol=1e-5)
    assert torch.equal(model(x_dict, data.edge_index_dict)[ITEM], z_dict[ITEM])
    loops = AutoCF(DIM, heads=2, eval_self_loops=True).eval()
    loops.load_state_dict(model.state_dict())
    assert not torch.allclose(loops(x_dict, data.edge_index_dict)[USER],
                              z_dict[USER])


def test_autocf_sample_graph_matches_naive():
    data, emb = fake_data(), embedding()
    model = AutoCF(DIM, num_seeds=2, mask_depth=2, sample_ratio=0.2)
    x_dict = emb()
    graph, infomax = model.sample_graph(x_dict, data.edge_index_dict,
                                        torch.Generator().manual_seed(5))
    gen = torch.Generator().manual_seed(5)  # replay the draws
    with torch.no_grad():
        a = dense_adj(data, normalize=False)
        x = torch.cat([x_dict[USER], x_dict[ITEM]])
        deg = a.sum(1, keepdim=True)
        s1 = a @ x - x
        s2 = (a @ s1 - s1) - deg * x
        n2 = (a @ deg - deg) - deg
        sub = (s1 + s2) / (deg + n2 + 1e-8)
        u = torch.rand(N, generator=gen).clamp(min=1e-8)
        noisy = torch.tensor([
            math.log(1 / (1 + math.exp(-cos(sub[n], x[n])))) for n in range(N)
        ]) - torch.log(-torch.log(u))
    assert abs(float(infomax) + float(noisy.mean())) < 1e-5
    seeds = noisy.topk(2).indices.tolist()
    # Official sequential masking: seeds, then the removed edges' endpoints.
    edges = [(v, NUM_USERS + i)
             for v, i in data[EDGE].edge_index.t().tolist()]
    masked, current = set(seeds), list(seeds)
    for depth in range(2):
        nxt = set()
        for seed in current:
            hit = [e for e in edges if seed in e]
            nxt |= {n for e in hit for n in e}
            edges = [e for e in edges if seed not in e]
        if depth == 0:
            masked |= nxt
            current = sorted(nxt)
    enc = graph[EDGE]
    assert 0 < len(edges) < data[EDGE].edge_index.size(1)  # some masked
    assert sorted((u_, NUM_USERS + i) for u_, i in enc.t().tolist()) == \
        sorted(edges)
    assert torch.equal(graph[REV_EDGE], enc.flip(0))
    sampled = torch.randint(N, (math.floor(N * 0.2), ), generator=gen)
    pool = masked | set(sampled.tolist())
    dec = set(map(tuple, graph[DECODER_EDGE].t().tolist()))
    assert len(dec) == graph[DECODER_EDGE].size(1)  # de-duplicated
    assert all((n, n) in dec for n in range(N))
    assert all((v, w) in dec and (w, v) in dec for v, w in edges)
    assert all((w, v) in dec for v, w in dec)
    rest = dec - set(edges) - {(w, v) for v, w in edges}
    rest = {(v, w) for v, w in rest if v != w}
    assert len(rest) > 0 and all(v in pool and w in pool for v, w in rest)
    infomax.backward()
    assert emb.weight_dict[USER].grad is not None


def test_autocf_losses_match_naive():
    data, emb = fake_data(), embedding()
    model = AutoCF(DIM, heads=2)
    user, pos, neg = batch()
    terms = model.ssl_loss(emb(), data.edge_index_dict,
                           {USER: user, ITEM: [pos, neg]})
    assert list(terms) == ['ssl', 'ssl_cross']
    z = model(emb(), data.edge_index_dict)
    again = model.ssl_loss(emb(), data.edge_index_dict,
                           {USER: user, ITEM: pos}, z)
    assert all(torch.equal(terms[k], again[k]) for k in terms)
    zu, zi = z[USER].detach(), z[ITEM].detach()

    def c(nodes, a, b):
        return sum(math.log(sum(math.exp(float(a[n] @ y)) for y in b))
                   for n in nodes) / len(nodes)

    # Unweighted: the trainer weighs 'ssl' (official ssl_reg) and
    # 'ssl_cross' (1 in the official code).
    ssl = (c(sorted(set(user.tolist())), zu, zu) +
           c(sorted(set(pos.tolist())), zi, zi))
    cross = c(user.tolist(), zu, zi)
    assert abs(float(terms['ssl']) - ssl) < 1e-4 * max(1.0, abs(ssl))
    assert abs(float(terms['ssl_cross']) - cross) < 1e-4 * max(1.0,
                                                               abs(cross))
    rec = model.recommendation_loss(z, user, pos)
    ref = -sum(float(zu[u] @ zi[i]) for u, i in zip(user, pos)) / len(user)
    assert abs(float(rec) - ref) < 1e-5
    # The step's terms on the graph it is given: the same three values.
    _, step = model.loss_terms(emb(), data.edge_index_dict,
                               TrainBatch(user, pos, neg, data))
    assert list(step) == ['rec', 'ssl', 'ssl_cross']
    for name, value in (('rec', ref), ('ssl', ssl), ('ssl_cross', cross)):
        assert abs(float(step[name]) - value) < 1e-4 * max(1.0, abs(value))


def test_autocf_training_graph_resamples_every_few_steps():
    # A new sampled graph and the 'infomax' term at steps 0, r, 2r, ...; in
    # between the last graph and no term.
    data, emb = fake_data(), embedding()
    model = AutoCF(DIM, heads=2, num_seeds=2, resample_every=3)
    user, pos, neg = batch()
    gen = torch.Generator().manual_seed(0)
    graphs = []
    for step in range(7):
        graph, extra = model.training_graph(
            emb(), data.edge_index_dict,
            TrainBatch(user, pos, neg, data, gen, step))
        assert list(extra) == (['infomax'] if step % 3 == 0 else [])
        assert DECODER_EDGE in graph
        graphs.append(graph)
    assert graphs[1] is graphs[0] and graphs[2] is graphs[0]
    assert graphs[3] is not graphs[0] and graphs[5] is graphs[3]
    assert graphs[6] is not graphs[3]


def test_autocf_errors():
    with pytest.raises(ValueError, match="multiple of 'heads'"):
        AutoCF(DIM, heads=3)
    with pytest.raises(ValueError, match="'num_seeds' must be positive"):
        AutoCF(DIM, num_seeds=0)


@pytest.mark.parametrize('variant', ['plain', 'con', 'gen'])
def test_autocf_trains(variant):
    model = AutoCF(DIM, heads=2, num_seeds=2, resample_every=3)
    assert_trains(train_losses(model, variant, 0.1))
