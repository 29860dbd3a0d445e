r"""End to end, the models learn: on a graph with planted taste clusters
(:func:`rlmrec_pyg.testing.get_clustered_rec_data`), LightGCN alone and
wrapped by RLMRec-Con and RLMRec-Gen ranks held-out items far better than
popularity, random ranking and its own untrained state. The baselines and
the trained model's Recall@20 are computed here by naive code from the
protocol's definition, and the library's reported metric must agree."""
import pytest
import torch
from naive_metrics import naive_recall, popularity, random_recall
from torch_geometric import seed_everything

from rlmrec_pyg.nn import (ContrastiveAlignment, LightGCN,
                           MaskedGenerativeAlignment, NodeEmbedding,
                           Recommender)
from rlmrec_pyg.testing import get_clustered_rec_data
from rlmrec_pyg.train import Trainer
from rlmrec_pyg.typing import ITEM, USER

K = 20


def train(variant, epochs):
    data = get_clustered_rec_data()
    seed_everything(0)
    embedding = NodeEmbedding({USER: 60, ITEM: 80}, 32)
    model = LightGCN(32, num_layers=2)
    if variant == 'con':
        model = ContrastiveAlignment(model, 16, 32, negatives={
            USER: 'all',
            ITEM: 'in_batch'
        })
    elif variant == 'gen':
        model = MaskedGenerativeAlignment(model, 32, 16, 32, mask_ratio=0.15,
                                          temperature=0.5)
    model = Recommender(model, embedding=embedding)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    out = None
    if epochs > 0:
        weights = {} if variant == 'base' else {'align': 0.05}
        trainer = Trainer(max_epochs=epochs, batch_size=256, eval_every=5,
                          loss_weights=weights)
        out = trainer.fit(model, data, optimizer)
    model.eval()
    with torch.no_grad():
        z = model(data)
    return data, z[USER] @ z[ITEM].t(), out


@pytest.mark.parametrize('variant', ['base', 'con', 'gen'])
def test_learns_beyond_popularity_and_random(variant):
    data, score, out = train(variant, epochs=20)
    recall = naive_recall(score, data)
    assert out['test'][f'recall@{K}'] == pytest.approx(recall, abs=1e-6)
    pop = naive_recall(popularity(data), data)
    rnd = random_recall(data)
    untrained = naive_recall(train(variant, epochs=0)[1], data)
    assert recall > max(pop, rnd) + 0.3, (recall, pop, rnd)
    assert recall > untrained + 0.2, (recall, untrained)
