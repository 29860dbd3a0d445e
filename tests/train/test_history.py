r"""A run's ``history.csv`` logs every loss term per epoch, and the logged
loss is their weighted sum with the weights of the run's config; a term
the config gives no weight stops the run with one error naming it, before
anything is trained or saved."""
import csv
import os

import pytest
import torch
from omegaconf import OmegaConf
from run_helpers import get_cfg, run

from rlmrec_pyg.nn import LightGCN, Recommender
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.train import Trainer

#: Columns after the terms: validation metrics at K = 20, time, flag.
TAIL = ['val/recall@20', 'val/ndcg@20', 'seconds', 'improved']
#: name -> (overrides, the terms the model returns, in order)
RUNS = {
    'con': (['alignment=contrastive'], ['rec', 'reg', 'align']),
    'dccf': (['model=dccf', 'model.num_intents=4'], ['rec', 'reg', 'ssl']),
}


def read_history(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize('name', sorted(RUNS))
def test_history_logs_every_term_and_their_weighted_sum(tmp_path, name):
    # Mutations caught: a term left out of the epoch's stats (train_epoch
    # logging 'loss' only), the trainer's row without the terms, the loss
    # weighed by anything but trainer.loss_weights (e.g. 'align' fixed).
    overrides, terms = RUNS[name]
    cfg = get_cfg(tmp_path, overrides + [
        'trainer.max_epochs=3', 'trainer.eval_every=2',
        'trainer.loss_weights.reg=0.5'
    ])
    run(cfg)
    rows = read_history(tmp_path / 'history.csv')
    assert list(rows[0]) == ['epoch', 'loss', *terms, *TAIL]
    assert [int(row['epoch']) for row in rows] == [0, 1, 2]
    weights = OmegaConf.to_container(cfg.trainer.loss_weights)
    assert set(terms) <= set(weights) and weights['reg'] == 0.5
    for row in rows:
        total = sum(weights[t] * float(row[t]) for t in terms)
        assert float(row['loss']) == pytest.approx(total, rel=1e-6)
        assert all(float(row[t]) > 0 for t in terms)
        assert float(row['seconds']) >= 0 and row['improved'] in ('0', '1')
    # Validated epochs (0 and 2) carry the metrics, epoch 1 none.
    validated = [row['val/recall@20'] != '' for row in rows]
    assert validated == [True, False, True]
    assert rows[1]['val/ndcg@20'] == '' and rows[1]['improved'] == '0'
    assert 0 <= float(rows[0]['val/recall@20']) <= 1
    assert rows[0]['improved'] == '1'  # the first validation improves


def test_term_without_a_weight_stops_the_run(tmp_path):
    # SGL returns 'ssl'; a config without its weight is refused at the
    # first step, naming the term and the override that sets it, and no
    # checkpoint, metrics or history row is written. Mutation caught:
    # weighted_sum skipping (or zero-weighting) terms without a weight.
    cfg = get_cfg(tmp_path, ['model=sgl', 'model.embedding_dim=8',
                             '~trainer.loss_weights.ssl'])
    assert 'ssl' not in cfg.trainer.loss_weights
    with pytest.raises(ValueError, match=r"The model returned the loss terms "
                       r"\['rec', 'reg', 'ssl'\], but 'loss_weights' has no "
                       r"weight for \['ssl'\] .*'trainer\.loss_weights\.ssl"
                       r"=\.\.\.'"):
        run(cfg)
    left = sorted(os.listdir(tmp_path))
    assert 'best.pt' not in left and 'metrics.json' not in left
    assert 'history.csv' not in left  # created at the first row


def test_resume_keeps_the_history_rows(tmp_path):
    # A run killed after epoch 2 and resumed from its checkpoint: the
    # history must still hold one row per epoch, from epoch 0.
    data = get_random_rec_data(num_users=40, num_items=50,
                               num_interactions=600, sem_channels=0)
    model = Recommender(LightGCN(8), data, embedding_dim=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    kwargs = dict(eval_every=1, patience=100, batch_size=64,
                  checkpoint_path=str(tmp_path / 'best.pt'),
                  history_path=str(tmp_path / 'history.csv'),
                  progress_bar=False)
    Trainer(max_epochs=3, **kwargs).fit(model, data, optimizer)
    first = read_history(tmp_path / 'history.csv')
    Trainer(max_epochs=5, **kwargs).fit(model, data, optimizer, resume=True)
    rows = read_history(tmp_path / 'history.csv')
    assert [int(row['epoch']) for row in rows] == [0, 1, 2, 3, 4]
    assert rows[0] == first[0]  # kept, not trained again
