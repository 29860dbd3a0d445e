r"""Sampled mini-batch training (PyG's ``LinkNeighborLoader``): a user's
``to_hetero(GraphSAGE)``, alone and wrapped, trains on subgraphs with the
semantic rows of each subgraph's nodes, and the result says it is not the
paper's protocol."""
import pytest
import torch
from naive_metrics import random_recall
from torch_geometric.nn import GraphSAGE, to_hetero

from rlmrec_pyg.nn import (ContrastiveAlignment, MaskedGenerativeAlignment,
                           Recommender)
from rlmrec_pyg.testing import get_clustered_rec_data
from rlmrec_pyg.train import Trainer
from rlmrec_pyg.train.sampled import (subgraph_batch, train_epoch_sampled,
                                      training_loader)
from rlmrec_pyg.typing import EDGE, ITEM, TEST_INDEX, USER, VAL_INDEX

WRAP = {
    'plain': (lambda gnn: gnn, {}),
    'con': (ContrastiveAlignment, {'align': 0.05}),
    'gen': (MaskedGenerativeAlignment, {'align': 0.05}),
}


def test_loader_gives_triples_of_training_edges_and_semantic_rows():
    data = get_clustered_rec_data(sem_channels=8)
    loader = training_loader(data, [3, 2], batch_size=50,
                             generator=torch.Generator().manual_seed(0))
    train = set(map(tuple, data[EDGE].edge_index.t().tolist()))
    held_out = set(map(tuple, torch.cat(
        [data[EDGE][VAL_INDEX], data[EDGE][TEST_INDEX]], 1).t().tolist()))
    seen = 0
    for step, sampled in enumerate(loader):
        batch = subgraph_batch(sampled, data, None, step, torch.device('cpu'))
        n_user, n_item = batch.data[USER].n_id, batch.data[ITEM].n_id
        pairs = set(zip(n_user[batch.user].tolist(),
                        n_item[batch.pos].tolist()))
        assert pairs <= train
        assert batch.neg.shape == batch.user.shape
        # Message passing sees training edges only.
        sub = batch.data[EDGE].edge_index
        sub_pairs = set(zip(n_user[sub[0]].tolist(), n_item[sub[1]].tolist()))
        assert sub_pairs <= train and not sub_pairs & held_out
        for nt, n_id in ((USER, n_user), (ITEM, n_item)):
            assert torch.equal(batch.sem_dict[nt], data[nt].sem_emb[n_id])
        seen += batch.user.numel()
    assert seen == len(train)


@pytest.mark.parametrize('kind', list(WRAP))
def test_sampled_training_learns(kind):
    torch.manual_seed(0)
    data = get_clustered_rec_data()
    wrap, weights = WRAP[kind]
    model = Recommender(wrap(to_hetero(GraphSAGE(-1, 32, 2),
                                       data.metadata())), data,
                        embedding_dim=32)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    gen = torch.Generator().manual_seed(0)
    first = train_epoch_sampled(model, data, optimizer, [5, 5], 128,
                                weights, 'batch', gen)
    assert ('align' in first) == (kind != 'plain')
    for _ in range(3):
        last = train_epoch_sampled(model, data, optimizer, [5, 5], 128,
                                   weights, 'batch', gen)
    assert last['rec'] < first['rec']
    result = Trainer(max_epochs=2, batch_size=128, eval_every=1,
                     loss_weights=weights, reg='batch', num_neighbors=[5, 5],
                     progress_bar=False).fit(model, data, optimizer)
    assert result['protocol'].startswith('sampled (LinkNeighborLoader')
    assert '[5, 5]' in result['protocol']
    assert result['test']['recall@20'] > random_recall(data)


def test_the_full_graph_result_has_no_protocol_note():
    data = get_clustered_rec_data()
    model = Recommender(to_hetero(GraphSAGE(-1, 8, 1), data.metadata()),
                        data, embedding_dim=8)
    result = Trainer(max_epochs=1, progress_bar=False).fit(
        model, data, torch.optim.Adam(model.parameters()))
    assert 'protocol' not in result


@pytest.mark.parametrize('bad', [[], [0], [2, -2], 'ab', [1.5], 3])
def test_bad_fanouts(bad):
    with pytest.raises(ValueError, match="'num_neighbors' must be a "
                       "non-empty list of fan-outs"):
        Trainer(num_neighbors=bad)
