r"""Your own PyG GNN trains as is: ``to_hetero(GraphSAGE(-1, 32, 2))``, with
no method of ours, is trained by :class:`~rlmrec_pyg.train.Trainer`, alone
and wrapped by RLMRec-Con and RLMRec-Gen with no size given, evaluated by
:func:`~rlmrec_pyg.train.evaluate`, and run from the config
(``model=graphsage``)."""
import csv
import json

import pytest
import torch
from naive_metrics import random_recall
from run_helpers import get_cfg, run
from torch_geometric.nn import GraphSAGE, to_hetero

from rlmrec_pyg.nn import (ContrastiveAlignment, MaskedGenerativeAlignment,
                           Objective, Recommender)
from rlmrec_pyg.testing import get_clustered_rec_data
from rlmrec_pyg.train import Trainer, evaluate, load_checkpoint

WRAP = {
    'plain': (lambda gnn: gnn, {}),
    'con': (ContrastiveAlignment, {'align': 0.05}),
    'gen': (MaskedGenerativeAlignment, {'align': 0.05}),
}


def history(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize('kind', list(WRAP))
def test_to_hetero_graphsage_trains_and_evaluates(tmp_path, kind):
    # Mutations caught: loss_terms_of not falling back to BPR for a plain
    # encoder; Recommender not materialising the lazy GraphSAGE or the
    # wrappers' -1 sizes before the optimizer (the parameters would not
    # train); evaluate not using model(data).
    torch.manual_seed(0)
    data = get_clustered_rec_data()
    gnn = to_hetero(GraphSAGE(-1, 32, 2), data.metadata())
    assert not isinstance(gnn, Objective)
    assert not any(hasattr(gnn, name) for name in (
        'loss_terms', 'training_graph', 'encode', 'alignment_index'))
    wrap, weights = WRAP[kind]
    model = Recommender(wrap(gnn), data, embedding_dim=32)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    before = [p.detach().clone() for p in gnn.parameters()]
    path = tmp_path / 'history.csv'
    Trainer(max_epochs=2, batch_size=256, eval_every=1, loss_weights=weights,
            history_path=str(path), progress_bar=False).fit(
                model, data, optimizer)
    rows = history(path)
    assert float(rows[1]['loss']) < float(rows[0]['loss'])
    # BPR is the term that trains the GNN (the plain encoder's objective).
    assert 0 < float(rows[1]['rec']) < float(rows[0]['rec'])
    assert ('align' in rows[0]) == (kind != 'plain')
    assert all(not torch.equal(a, b.detach())
               for a, b in zip(before, gnn.parameters()))
    metrics = evaluate(model, data, 'test', ks=[20])
    assert metrics['recall@20'] > random_recall(data)


@pytest.mark.parametrize('overrides', [[], ['alignment=contrastive']],
                         ids=['base', 'con'])
def test_run_with_graphsage(tmp_path, overrides):
    run(get_cfg(tmp_path, ['model=graphsage'] + overrides))
    with open(tmp_path / 'metrics.json') as f:
        assert 0 <= json.load(f)['test']['recall@20'] <= 1
    state = load_checkpoint(str(tmp_path / 'best.pt'))['model']
    projector = any(key.startswith('projector.') for key in state)
    assert projector == bool(overrides)
    assert any('lin_l' in key or 'lin_r' in key for key in state)
    terms = list(history(tmp_path / 'history.csv')[0])
    assert ('align' in terms) == bool(overrides)
