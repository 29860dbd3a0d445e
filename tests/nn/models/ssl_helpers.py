r"""Naive references and a tiny training loop shared by the SSL backbone
tests (SGL, SimGCL, DCCF, AutoCF)."""
import math
from typing import List

import pytest
import torch
from torch import Tensor

from rlmrec_pyg.nn import (
    ContrastiveAlignment,
    MaskedGenerativeAlignment,
    NodeEmbedding,
    Recommender,
    TrainBatch,
)
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.typing import EDGE, ITEM, USER

NUM_USERS, NUM_ITEMS, DIM, SEM = 20, 30, 8, 6


@pytest.fixture(autouse=True)
def single_thread():
    r"""Tiny tensors: intra-op threads only add sync cost (and stall badly
    on a loaded machine)."""
    num_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(num_threads)


def fake_data():
    return get_random_rec_data(NUM_USERS, NUM_ITEMS, 200, sem_channels=SEM)


def embedding(seed: int = 0) -> NodeEmbedding:
    torch.manual_seed(seed)
    return NodeEmbedding({USER: NUM_USERS, ITEM: NUM_ITEMS}, DIM)


def batch(seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    user = torch.randint(NUM_USERS, (12, ), generator=gen)
    pos = torch.randint(NUM_ITEMS, (12, ), generator=gen)
    neg = torch.randint(NUM_ITEMS, (12, ), generator=gen)
    return user, pos, neg


def dense_adj(data, normalize: bool = True) -> Tensor:
    r"""The stacked :math:`N \times N` adjacency, written from
    docs/parity.md#normalised-adjacency."""
    num = NUM_USERS + NUM_ITEMS
    adj = torch.zeros(num, num)
    for u, i in data[EDGE].edge_index.t().tolist():
        adj[u, NUM_USERS + i] = adj[NUM_USERS + i, u] = 1.0
    if not normalize:
        return adj
    deg = adj.sum(dim=1)
    inv = torch.where(deg > 0, deg.pow(-0.5), torch.zeros_like(deg))
    return inv.view(-1, 1) * adj * inv.view(1, -1)


def cos(a: Tensor, b: Tensor) -> float:
    a, b = a.detach(), b.detach()
    return float(a @ b / (a.norm() * b.norm()))


def naive_nce(query: Tensor, key: Tensor, target: List[int],
              tau: float) -> float:
    r"""Official ``cal_infonce_loss``, summed over rows
    (docs/parity.md#infonce-numerics)."""
    total = 0.0
    for r, t in enumerate(target):
        denom = sum(
            math.exp(cos(query[r], key[c]) / tau) for c in range(len(key)))
        total += -cos(query[r], key[t]) / tau + math.log(denom)
    return total


def naive_bpr(z_dict, user: Tensor, pos: Tensor, neg: Tensor) -> float:
    r"""BPR written out: the mean of :math:`-\log \sigma(\hat{y}_{u,i^+} -
    \hat{y}_{u,i^-})` over the triples."""
    z_user, z_item = z_dict[USER].detach(), z_dict[ITEM].detach()
    total = 0.0
    for u, p, n in zip(user.tolist(), pos.tolist(), neg.tolist()):
        diff = float(z_user[u] @ z_item[p]) - float(z_user[u] @ z_item[n])
        total -= math.log(1 / (1 + math.exp(-diff)))
    return total / user.numel()


def layer_sum(x_dict, data, num_layers: int):
    r"""LightGCN's clean readout :math:`\sum_{l \le L} \hat{\mathbf{A}}^l
    \mathbf{E}`, dense."""
    adj = dense_adj(data)
    h = torch.cat([x_dict[USER], x_dict[ITEM]]).detach()
    out = h.clone()
    for _ in range(num_layers):
        h = adj @ h
        out = out + h
    return {USER: out[:NUM_USERS], ITEM: out[NUM_USERS:]}


def train_losses(encoder, variant: str, ssl_weight: float, steps: int = 30,
                 lr: float = 0.01) -> List[float]:
    r"""Trains :obj:`encoder` (plain, or wrapped by ``con`` / ``gen``) on
    the fake data, one full batch of the training edges per step, with the
    model's own terms weighed here (:obj:`ssl_weight` for :obj:`"ssl"`, 0.1
    for :obj:`"align"`, 1e-6 for :obj:`"reg"`, 1 for the rest), and
    returns the losses."""
    data = fake_data()
    if variant == 'con':
        encoder = ContrastiveAlignment(encoder, SEM, DIM, 0.5)
    elif variant == 'gen':
        encoder = MaskedGenerativeAlignment(encoder, DIM, SEM, DIM, 0.2, 0.5)
    model = Recommender(encoder, data, embedding=embedding())
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    weights = {'rec': 1.0, 'reg': 1e-6, 'ssl': ssl_weight, 'ssl_cross': 1.0,
               'infomax': 1.0, 'align': 0.1}
    gen = torch.Generator().manual_seed(0)
    user, pos = data[EDGE].edge_index
    losses = []
    for step in range(steps):
        optimizer.zero_grad()
        neg = torch.randint(NUM_ITEMS, user.size(), generator=gen)
        terms = model.loss_terms(TrainBatch(user, pos, neg, data, gen, step))
        loss = sum(weights[name] * value for name, value in terms.items())
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    return losses


def assert_trains(losses: List[float]) -> None:
    assert all(math.isfinite(v) for v in losses)
    head, tail = losses[:3], losses[-3:]
    assert sum(tail) / 3 < sum(head) / 3
