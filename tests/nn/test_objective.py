r"""The training contract: every model states its objective as named,
unweighted loss terms (:class:`rlmrec_pyg.nn.Objective`), the trainer's
weights scale them, and :class:`rlmrec_pyg.nn.Recommender` trains any
encoder, inferring the sizes the wrappers leave at -1."""
import math
import os.path as osp
import sys

import pytest
import torch
from alignment_helpers import mlp
from torch.nn.parameter import UninitializedParameter
from torch_geometric.nn import GraphSAGE, to_hetero

from rlmrec_pyg.nn import (
    GCCF,
    KAR,
    SGL,
    AutoCF,
    ContrastiveAlignment,
    DCCF,
    LightGCN,
    MaskedGenerativeAlignment,
    NodeEmbedding,
    Objective,
    Recommender,
    SimGCL,
    TrainBatch,
)
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.train import evaluate
from rlmrec_pyg.train.loop import loss_weights, train_step
from rlmrec_pyg.typing import EDGE, ITEM, USER

sys.path.insert(0, osp.join(osp.dirname(__file__), 'models'))
from ssl_helpers import (  # noqa: E402,F401 (single_thread: autouse)
    DIM,
    NUM_ITEMS,
    NUM_USERS,
    batch,
    embedding,
    fake_data,
    layer_sum,
    naive_bpr,
    naive_nce,
    single_thread,
)

# name -> (backbone, the terms of its loss_terms, in order)
BACKBONES = {
    'lightgcn': (lambda: LightGCN(DIM, num_layers=2), ['rec']),
    'gccf': (lambda: GCCF(DIM, num_layers=2), ['rec']),
    'sgl': (lambda: SGL(DIM, num_layers=2), ['rec', 'ssl']),
    'simgcl': (lambda: SimGCL(DIM, num_layers=2), ['rec', 'ssl']),
    'dccf': (lambda: DCCF(DIM, num_intents=4), ['rec', 'ssl']),
    'autocf': (lambda: AutoCF(DIM, heads=2, num_seeds=2, resample_every=3),
               ['rec', 'ssl', 'ssl_cross']),
}
# name -> (wrapper with every size inferred, the terms it adds)
WRAPPERS = {
    'none': (lambda encoder: encoder, []),
    'con': (ContrastiveAlignment, ['align']),
    'gen': (lambda encoder: MaskedGenerativeAlignment(encoder, mask_ratio=0.2),
            ['align']),
    'kar': (KAR, []),
}


def triples(data, seed: int = 0, step: int = 0) -> TrainBatch:
    user, pos, neg = batch()
    return TrainBatch(user, pos, neg, data,
                      torch.Generator().manual_seed(seed), step)


def no_drop_lightgcn() -> LightGCN:
    return LightGCN(DIM, num_layers=2, edge_drop_rate=0.0)


def close(value, expected: float, rel: float = 1e-5) -> bool:
    return math.isclose(float(value), expected, rel_tol=rel, abs_tol=1e-7)


@pytest.mark.parametrize('wrapper', list(WRAPPERS))
@pytest.mark.parametrize('backbone', list(BACKBONES))
def test_every_model_states_its_terms(backbone, wrapper):
    # Mutations caught: a backbone not adding (or renaming) 'ssl' /
    # 'ssl_cross'; Con/Gen not adding 'align' or dropping the inner terms;
    # KAR adding a term; Recommender not adding 'reg' or the 'infomax' of
    # training_graph; a wrapper not delegating training_graph.
    make, inner = BACKBONES[backbone]
    wrap, added = WRAPPERS[wrapper]
    data = fake_data()
    model = Recommender(wrap(make()), data, embedding=embedding())
    x_dict, graph = model.embedding(), data.edge_index_dict
    _, terms = model.encoder.loss_terms(x_dict, graph, triples(data))
    assert list(terms) == inner + added
    for step in (0, 1, 3):
        drawn, extra = model.encoder.training_graph(x_dict, graph,
                                                    triples(data, step=step))
        resampled = backbone == 'autocf' and step % 3 == 0
        assert list(extra) == (['infomax'] if resampled else [])
        assert (drawn is graph) == (backbone != 'autocf')
    for step in (0, 1):
        terms = model.loss_terms(triples(data, step=step))
        infomax = ['infomax'] if backbone == 'autocf' and step == 0 else []
        assert list(terms) == ['rec', 'reg', *inner[1:], *added, *infomax]
        for value in terms.values():
            assert value.dim() == 0 and value.requires_grad
            assert math.isfinite(float(value))


@pytest.mark.parametrize('reg', ['all', 'batch'])
def test_rec_and_reg_terms_match_naive(reg):
    # 'rec' = BPR written out on the layer sum; 'reg' = the squared norm of
    # every parameter (projector included) or of the batch's ID rows.
    # Mutations caught: pos/neg swapped or sum-instead-of-mean in bpr_terms;
    # 'reg' over the embedding only or over the wrong rows.
    data = fake_data()
    model = Recommender(ContrastiveAlignment(no_drop_lightgcn()), data,
                        embedding=embedding())
    step = triples(data)
    terms = model.loss_terms(step, reg=reg)
    x_dict = {nt: x.detach() for nt, x in model.embedding().items()}
    rec = naive_bpr(layer_sum(x_dict, data, 2), step.user, step.pos,
                    step.neg)
    if reg == 'all':
        tensors = list(model.parameters())
        assert any(t is model.encoder.projector.mlp[0].weight
                   for t in tensors)
    else:
        tensors = [x_dict[USER][u] for u in step.user.tolist()]
        tensors += [x_dict[ITEM][i] for i in step.pos.tolist()]
        tensors += [x_dict[ITEM][i] for i in step.neg.tolist()]
    norm = sum(v * v for t in tensors for v in t.detach().view(-1).tolist())
    assert close(terms['rec'], rec)
    assert close(terms['reg'], norm)


def projected(model, nt, data):
    # The projector applied one semantic row at a time.
    with torch.no_grad():
        return torch.stack([model.projector(s) for s in data[nt].sem_emb])


@pytest.mark.parametrize('backbone', ['lightgcn', 'autocf'])
def test_contrastive_align_term_matches_naive(backbone):
    # 'align' = the naive InfoNCE loop over the batch groups: users, positive
    # and negative items (AutoCF: users and positive items). Mutations
    # caught: batch_index or AutoCF.alignment_index dropping/adding a group;
    # Con aligning the wrong output.
    data = fake_data()
    encoder = (no_drop_lightgcn() if backbone == 'lightgcn' else
               AutoCF(DIM, heads=2))
    model = ContrastiveAlignment(encoder, temperature=0.3,
                                 negatives={USER: 'all'})
    x_dict = Recommender(model, data, embedding=embedding()).embedding()
    step = triples(data)
    _, terms = model.loss_terms(x_dict, data.edge_index_dict, step)
    with torch.no_grad():
        z = encoder(x_dict, data.edge_index_dict)
    items = [step.pos, step.neg] if backbone == 'lightgcn' else [step.pos]
    proj = projected(model, USER, data)  # users against all users
    expected = naive_nce(z[USER][step.user], proj, step.user.tolist(),
                         0.3) / step.user.numel()
    proj = projected(model, ITEM, data)  # items against their group
    for index in items:
        expected += naive_nce(z[ITEM][index], proj[index],
                              range(index.numel()), 0.3) / index.numel()
    assert close(terms['align'], expected)


def test_generative_terms_match_naive():
    # 'rec' = BPR on the masked input's output; 'align' = InfoNCE of the
    # generated rows of all masked nodes. Mutations caught: Gen's loss_terms
    # not masking, a mask other than the batch generator's, 'align' over
    # the unmasked output.
    data = fake_data()
    model = MaskedGenerativeAlignment(no_drop_lightgcn(), mask_ratio=0.2,
                                      temperature=0.4)
    x_dict = Recommender(model, data, embedding=embedding()).embedding()
    with torch.no_grad():
        model.mask_token.fill_(0.5)
    step = triples(data, seed=3)
    _, terms = model.loss_terms(x_dict, data.edge_index_dict, step)
    # The mask is drawn over the node types in the input's order.
    mask = model.sample_mask({nt: x.size(0) for nt, x in x_dict.items()},
                             torch.Generator().manual_seed(3))
    masked = {nt: torch.where(mask[nt].view(-1, 1), 0.5, x.detach())
              for nt, x in x_dict.items()}
    z = layer_sum(masked, data, 2)
    rec = naive_bpr(z, step.user, step.pos, step.neg)
    rows = [(nt, i) for nt in (USER, ITEM) for i in mask[nt].nonzero()]
    with torch.no_grad():
        gen = torch.stack([model.projector(z[nt][i]).view(-1)
                           for nt, i in rows])
    sem = torch.stack([data[nt].sem_emb[i].view(-1) for nt, i in rows])
    align = naive_nce(gen, sem, range(len(rows)), 0.4) / len(rows)
    assert close(terms['rec'], rec)
    assert close(terms['align'], align)


def test_kar_terms_match_naive():
    # No term of its own: 'rec' is BPR on the encoder's output for
    # x + MLP(s); evaluation reads the data's vectors. Mutations caught:
    # KAR's loss_terms or encode skipping inputs().
    data = fake_data()
    model = Recommender(KAR(no_drop_lightgcn()), data, embedding=embedding())
    step = triples(data)
    terms = model.loss_terms(step)
    x_dict = {nt: x.detach() for nt, x in model.embedding().items()}
    with torch.no_grad():
        inputs = {nt: x_dict[nt] + mlp(model.encoder, nt, data[nt].sem_emb)
                  for nt in (USER, ITEM)}
    z = layer_sum(inputs, data, 2)
    assert list(terms) == ['rec', 'reg']
    assert close(terms['rec'], naive_bpr(z, step.user, step.pos, step.neg))
    out = model(data)
    assert torch.allclose(out[ITEM], z[ITEM], atol=1e-5)


@pytest.mark.parametrize('backbone,wrapper', [
    ('sgl', 'none'),
    ('simgcl', 'none'),
    ('dccf', 'none'),
    ('autocf', 'none'),
    ('lightgcn', 'con'),
    ('sgl', 'gen'),
])
def test_loss_weights_scale_unweighted_terms(backbone, wrapper):
    # The terms do not depend on the weights (they are unweighted) and the
    # step's loss is sum_t w_t * term_t. Mutations caught: a model weighing
    # its own term; the loop applying one term's weight to another, or
    # dropping a term from the sum.
    make, _ = BACKBONES[backbone]
    data = fake_data()
    model = Recommender(WRAPPERS[wrapper][0](make()), data,
                        embedding=embedding())
    runs = []
    for scale in (1.0, 10.0):
        weights = loss_weights({'ssl': 0.3 * scale, 'ssl_cross': 0.7 * scale,
                                'infomax': 0.5 * scale, 'align': 0.2 * scale,
                                'reg': 1e-3})
        torch.manual_seed(7)  # the same views, noise and masks
        loss, terms = train_step(model, triples(data), weights)
        expected = sum(weights[n] * float(t) for n, t in terms.items())
        assert close(loss, expected, 1e-6)
        runs.append({n: float(t) for n, t in terms.items()})
    assert runs[0].keys() == runs[1].keys()
    for name in runs[0]:
        assert close(runs[1][name], runs[0][name], 1e-6)


def graphsage(data):
    return to_hetero(GraphSAGE((-1, -1), 16, num_layers=2), data.metadata())


def train(model, data, steps: int = 8):
    r"""Adam over :obj:`model.parameters()`, one repeated batch of every
    training edge (the same negatives and masks each step)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    weights = {'rec': 1.0, 'reg': 1e-6, 'align': 0.1}
    user, pos = data[EDGE].edge_index
    neg = torch.randint(data[ITEM].num_nodes, user.size(),
                        generator=torch.Generator().manual_seed(0))
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        terms = model.loss_terms(
            TrainBatch(user, pos, neg, data,
                       torch.Generator().manual_seed(1)))
        loss = sum(weights[name] * value for name, value in terms.items())
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    return losses


# kind -> (wrapper, {module path: shape of its weight}); sem 12, ID 8,
# GraphSAGE output 16.
LAZY = {
    'con': (ContrastiveAlignment, {
        'projector.mlp.0': (14, 12),
        'projector.mlp.2': (16, 14),
    }),
    'gen': (lambda gnn: MaskedGenerativeAlignment(gnn, mask_ratio=0.2), {
        'projector.mlp.0': (14, 16),
        'projector.mlp.2': (12, 14),
    }),
    'kar': (KAR, {
        'adaptor.user.mlp.0': (10, 12),
        'adaptor.item.mlp.2': (8, 10),
    }),
}


@pytest.mark.parametrize('kind', list(LAZY))
def test_lazy_wrapper_around_to_hetero_graphsage(kind):
    # Sizes inferred from the data (sem width) and one forward (output
    # width), before the optimizer: it gets the projector and the lazy
    # GraphSAGE weights. Mutations caught: initialize() not called by
    # Recommender, a size inferred from the wrong tensor, the projector
    # built after the optimizer.
    torch.manual_seed(0)
    data = get_random_rec_data(sem_channels=12)
    wrap, shapes = LAZY[kind]
    model = Recommender(wrap(graphsage(data)), data, embedding_dim=8)
    modules = dict(model.encoder.named_modules())
    for path, shape in shapes.items():
        assert tuple(modules[path].weight.size()) == shape
    if kind == 'gen':
        assert tuple(model.encoder.mask_token.size()) == (1, 8)
    params = list(model.parameters())
    assert not any(isinstance(p, UninitializedParameter) for p in params)
    built = [p for path in shapes for p in modules[path].parameters()]
    assert all(any(p is q for q in params) for p in built)
    before = [p.detach().clone() for p in built]
    losses = train(model, data)
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0]
    assert all(not torch.equal(a, b) for a, b in zip(before, built))
    metrics = evaluate(model, data, 'val', ks=[20])
    assert 0.0 < metrics['recall@20'] <= 1.0
    assert torch.equal(model(data)[USER], model(data)[USER])


def test_plain_encoder_trains_on_bpr():
    # Any module (x_dict, edge_index_dict) -> z_dict: no method of ours,
    # BPR on its output. Mutation caught: loss_terms_of not falling back to
    # BPR for a plain encoder.
    torch.manual_seed(0)
    data = get_random_rec_data(sem_channels=12)
    gnn = graphsage(data)
    assert not isinstance(gnn, Objective)
    model = Recommender(gnn, data, embedding_dim=8)
    step = TrainBatch(*batch(), data)
    terms = model.loss_terms(step)
    assert list(terms) == ['rec', 'reg']
    with torch.no_grad():
        z = gnn(model.embedding(), data.edge_index_dict)
    assert close(terms['rec'], naive_bpr(z, step.user, step.pos, step.neg))
    losses = train(model, data)
    assert losses[-1] < losses[0]
    metrics = evaluate(model, data, 'val', ks=[20])
    assert 0.0 < metrics['recall@20'] <= 1.0


@pytest.mark.parametrize('kind', ['con', 'gen', 'kar'])
def test_lazy_wrapper_used_before_initialize(kind):
    # Without Recommender(..., data) / initialize() the sizes are unknown:
    # one clear error naming the way out; initialize() builds it.
    data = fake_data()
    model = LAZY[kind][0](LightGCN(DIM, num_layers=1))
    x_dict = embedding()()
    with pytest.raises(RuntimeError, match=r"has sizes left to infer "
                       r"\(-1\): build it through Recommender\(\.\.\., "
                       r"data\) or call initialize"):
        model.loss_terms(x_dict, data.edge_index_dict, triples(data))
    model.initialize(x_dict, data.edge_index_dict, data)
    _, terms = model.loss_terms(x_dict, data.edge_index_dict, triples(data))
    assert math.isfinite(float(terms['rec']))


def test_generative_in_channels_left_to_infer():
    data = fake_data()
    model = MaskedGenerativeAlignment(LightGCN(DIM), -1, 6, DIM)
    with pytest.raises(RuntimeError, match="has 'in_channels' left to infer"):
        model.loss_terms(embedding()(), data.edge_index_dict, triples(data))


def test_wrappers_forward_no_ssl_loss():
    # The old duck-typed API is gone: a backbone's SSL reaches the loop only
    # as a term of loss_terms.
    for wrap in (ContrastiveAlignment, KAR, MaskedGenerativeAlignment):
        assert not hasattr(wrap(SGL(DIM)), 'ssl_loss')


def test_recommender_errors():
    data = fake_data()
    with pytest.raises(TypeError, match="'encoder' must be a "
                       r"'torch.nn.Module' in 'Recommender' \(got str\)"):
        Recommender('gnn', data, embedding_dim=DIM)
    with pytest.raises(ValueError, match="'Recommender' needs 'data' and "
                       "'embedding_dim', or an 'embedding'"):
        Recommender(LightGCN(DIM), data)
    with pytest.raises(TypeError, match="'embedding' must be a "
                       "'NodeEmbedding'"):
        Recommender(LightGCN(DIM), embedding={USER: 3})
    small = NodeEmbedding({USER: NUM_USERS, ITEM: NUM_ITEMS - 1}, DIM)
    with pytest.raises(ValueError, match=r"The embedding has 29 rows for "
                       r"node type 'item' but the graph has 30 nodes"):
        Recommender(LightGCN(DIM), data, embedding=small)
    model = Recommender(LightGCN(DIM), data, embedding_dim=DIM)
    with pytest.raises(ValueError, match=r"Unknown 'reg' 'rows' \(choose "
                       r"from \['all', 'batch'\]\)"):
        model.loss_terms(triples(data), reg='rows')
    with pytest.raises(ValueError, match="'batch.data' must hold the graph"):
        model.loss_terms(TrainBatch(*batch()))


@pytest.mark.xfail(strict=True, raises=KeyError, reason=(
    "library bug: HeteroData.sem_emb_dict raises PyG's KeyError on a graph "
    "without 'sem_emb', before the library's own check"))
@pytest.mark.parametrize('kind', ['con', 'kar'])
def test_wrapper_on_a_graph_without_semantic_vectors(kind):
    data = get_random_rec_data(sem_channels=0)
    with pytest.raises(ValueError, match="'sem_emb'"):
        Recommender(LAZY[kind][0](LightGCN(DIM)), data, embedding_dim=DIM)


@pytest.mark.xfail(strict=True, raises=KeyError, reason=(
    "library bug: TrainBatch.sem_dict reads HeteroData.sem_emb_dict, which "
    "raises PyG's KeyError on a graph without 'sem_emb'"))
def test_train_batch_without_semantic_vectors():
    data = get_random_rec_data(sem_channels=0)
    with pytest.raises(ValueError, match="The model needs 'sem_emb' on the "
                       "data"):
        TrainBatch(*batch(), data).sem_dict
