r"""Wrap your own PyG GNN with RLMRec's alignments (Con and Gen) in a few
lines: ID embeddings -> ``to_hetero(GraphSAGE)`` -> BPR + alignment loss.

Runs in seconds on a random text-attributed graph:

.. code-block:: bash

    python examples/wrap_your_gnn.py
"""
import torch
from torch_geometric.nn import GraphSAGE, to_hetero

from rlmrec_pyg.nn import (
    ContrastiveAlignment,
    MaskedGenerativeAlignment,
    bpr_loss,
)
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.train import evaluate

torch.manual_seed(0)
data = get_random_rec_data(num_users=100, num_items=150,
                           num_interactions=1500, sem_channels=32)
user_index, item_index = data['user', 'to', 'item'].edge_index
num_nodes = {nt: data[nt].num_nodes for nt in data.node_types}


def make_model(kind: str) -> torch.nn.Module:
    gnn = to_hetero(GraphSAGE(-1, 64, num_layers=2), data.metadata())
    if kind == 'contrastive':  # the official negatives of *_plus.py
        return ContrastiveAlignment(gnn, sem_channels=32, out_channels=64,
                                    negatives={'user': 'all'})
    return MaskedGenerativeAlignment(gnn, in_channels=64, sem_channels=32,
                                     out_channels=64, mask_ratio=0.1)


for kind in ['contrastive', 'generative']:
    model = make_model(kind)
    emb = torch.nn.ParameterDict({  # ID embeddings live outside the GNN
        nt: torch.nn.Parameter(torch.randn(n, 64) * 0.1)
        for nt, n in num_nodes.items()
    })
    model(dict(emb), data.edge_index_dict)  # initialise lazy shapes
    optimizer = torch.optim.Adam([*model.parameters(), *emb.parameters()],
                                 lr=1e-2)
    for epoch in range(10):
        model.train()
        optimizer.zero_grad()
        neg = torch.randint(num_nodes['item'], user_index.size())
        if kind == 'generative':  # the masked forward feeds BPR too
            index = model.sample_mask(num_nodes)
            z = model(dict(emb), data.edge_index_dict, index)
        else:
            z = model(dict(emb), data.edge_index_dict)
            index = {'user': [user_index], 'item': [item_index, neg]}
        u = z['user'][user_index]
        loss = bpr_loss((u * z['item'][item_index]).sum(-1),
                        (u * z['item'][neg]).sum(-1))
        align = model.alignment_loss(z, data.sem_emb_dict, index)
        (loss + 0.1 * align).backward()
        optimizer.step()
    metrics = evaluate(model, lambda: dict(emb), data, 'test', ks=[20])
    print(f'{kind:12s} bpr {loss.item():.4f} align {align.item():.4f} '
          f'test recall@20 {metrics["recall@20"]:.4f}')
