r"""Wrap your own PyG GNN with RLMRec's alignments (Con and Gen) in a few
lines: ``to_hetero(GraphSAGE)`` with ID embeddings, trained on BPR alone and
with each alignment; no method of ours is needed on the GNN, and the
wrappers read their sizes from the data.

Runs in seconds on a random text-attributed graph:

.. code-block:: bash

    python examples/wrap_your_gnn.py
"""
import torch
from torch_geometric.nn import GraphSAGE, to_hetero

from rlmrec_pyg.nn import (
    ContrastiveAlignment,
    MaskedGenerativeAlignment,
    Recommender,
)
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.train import Trainer

torch.manual_seed(0)
data = get_random_rec_data(num_users=100, num_items=150,
                           num_interactions=1500, sem_channels=32)
wrappers = {
    'base': lambda gnn: gnn,  # BPR only: the default objective
    'contrastive': lambda gnn: ContrastiveAlignment(  # official negatives
        gnn, negatives={'user': 'all'}),
    'generative': lambda gnn: MaskedGenerativeAlignment(gnn, mask_ratio=0.1),
}

for kind, wrap in wrappers.items():
    gnn = to_hetero(GraphSAGE(-1, 64, num_layers=2), data.metadata())
    model = Recommender(wrap(gnn), data, embedding_dim=64)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    trainer = Trainer(max_epochs=10, batch_size=512, eval_every=5,
                      loss_weights={'align': 0.1}, progress_bar=False)
    result = trainer.fit(model, data, optimizer)
    print(f'{kind:12s} best epoch {result["best_epoch"]}, test recall@20 '
          f'{result["test"]["recall@20"]:.4f}')
