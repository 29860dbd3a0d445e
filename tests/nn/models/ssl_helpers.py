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
    bpr_loss,
    l2_reg,
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
    r"""The stacked :math:`N \times N` adjacency, written from spec §1.2."""
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
    return float(a @ b / (a.norm() * b.norm()))


def naive_nce(query: Tensor, key: Tensor, target: List[int],
              tau: float) -> float:
    r"""Official ``cal_infonce_loss``, summed over rows (spec §4.2)."""
    total = 0.0
    for r, t in enumerate(target):
        denom = sum(
            math.exp(cos(query[r], key[c]) / tau) for c in range(len(key)))
        total += -cos(query[r], key[t]) / tau + math.log(denom)
    return total


def train_losses(encoder, variant: str, steps: int = 30,
                 lr: float = 0.01) -> List[float]:
    r"""Trains :obj:`encoder` (plain, or wrapped by ``con`` / ``gen``) on
    the fake data with the loop of spec §3.3 and returns the losses."""
    data, emb = fake_data(), embedding()
    if variant == 'con':
        model = ContrastiveAlignment(encoder, SEM, DIM, 0.5)
    elif variant == 'gen':
        model = MaskedGenerativeAlignment(encoder, DIM, SEM, DIM, 0.2, 0.5)
    else:
        model = encoder
    params = list(model.parameters()) + list(emb.parameters())
    optimizer = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator().manual_seed(0)
    edge_index = data[EDGE].edge_index
    losses = []
    graph, extra = data.edge_index_dict, None
    for step in range(steps):
        optimizer.zero_grad()
        x_dict = emb()
        if hasattr(encoder, 'sample_graph') and step % 3 == 0:
            graph, extra = encoder.sample_graph(x_dict, data.edge_index_dict,
                                                gen)
        user, pos = edge_index[0], edge_index[1]
        neg = torch.randint(NUM_ITEMS, user.size(), generator=gen)
        kwargs, index = {}, {USER: [user], ITEM: [pos, neg]}
        if variant == 'gen':
            mask = model.sample_mask({USER: NUM_USERS, ITEM: NUM_ITEMS}, gen)
            z_dict = model(x_dict, graph, mask)
            kwargs, index = dict(mask_dict=mask), mask
        else:
            z_dict = model(x_dict, graph)
        if hasattr(encoder, 'recommendation_loss'):
            loss = encoder.recommendation_loss(z_dict, user, pos)
        else:
            z_user = z_dict[USER][user]
            loss = bpr_loss((z_user * z_dict[ITEM][pos]).sum(-1),
                            (z_user * z_dict[ITEM][neg]).sum(-1))
        loss = loss + l2_reg(params, 1e-6) + model.ssl_loss(
            x_dict, graph, {USER: user, ITEM: [pos, neg]}, **kwargs)
        if variant != 'plain':
            loss = loss + 0.1 * model.alignment_loss(z_dict,
                                                     data.sem_emb_dict, index)
        if extra is not None:
            loss, extra = loss + extra, None
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    return losses


def assert_trains(losses: List[float]) -> None:
    assert all(math.isfinite(v) for v in losses)
    head, tail = losses[:3], losses[-3:]
    assert sum(tail) / 3 < sum(head) / 3
