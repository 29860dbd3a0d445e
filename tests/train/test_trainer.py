import math
import os

import pytest
import torch
from torch_geometric import seed_everything

from rlmrec_pyg.data import BPRSampler
from rlmrec_pyg.nn import GCCF, LightGCN, NodeEmbedding, Recommender
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.train import Trainer, save_atomic, train_epoch
from rlmrec_pyg.typing import EDGE, ITEM, USER


def setup(data, cls=LightGCN):
    seed_everything(0)
    embedding = NodeEmbedding({USER: 40, ITEM: 50}, 8)
    model = Recommender(cls(8, num_layers=2), embedding=embedding)
    return model, torch.optim.Adam(model.parameters(), lr=1e-2)


def get_data():
    return get_random_rec_data(num_users=40, num_items=50,
                               num_interactions=600, sem_channels=0)


@pytest.mark.parametrize('cls', [LightGCN, GCCF])
def test_two_epochs(cls, tmp_path):
    data = get_data()
    model, optimizer = setup(data, cls)
    trainer = Trainer(max_epochs=2, eval_every=1, batch_size=64,
                      checkpoint_path=str(tmp_path / 'best.pt'))
    out = trainer.fit(model, data, optimizer)
    assert out['last_epoch'] == 1 and out['best_epoch'] in (0, 1)
    for split in ('val', 'test'):
        assert math.isfinite(out[split]['recall@20'])
        assert 0 <= out[split]['ndcg@20'] <= 1
    assert os.path.exists(tmp_path / 'best.pt')


def test_resume_continues_from_checkpoint(tmp_path):
    data = get_data()
    path = str(tmp_path / 'best.pt')
    kwargs = dict(eval_every=1, patience=100, batch_size=64,
                  loss_weights={'reg': 1e-4})
    # Uninterrupted reference run.
    model, optimizer = setup(data)
    full = Trainer(max_epochs=6, **kwargs).fit(model, data, optimizer)
    reference = model.embedding()[USER].detach().clone()
    # A run "killed" after 3 epochs, then resumed from its checkpoint by a
    # fresh process (new modules, new optimizer, other RNG state).
    model, optimizer = setup(data)
    Trainer(max_epochs=3, checkpoint_path=path, **kwargs).fit(
        model, data, optimizer)
    ckpt = torch.load(path, weights_only=False)
    model, optimizer = setup(data)
    torch.manual_seed(123)
    resumed = Trainer(max_epochs=6, checkpoint_path=path, **kwargs).fit(
        model, data, optimizer, resume=True)
    assert ckpt['state']['epoch'] == ckpt['state']['best_epoch'] <= 2
    # The best epoch comes after the kill, so equality needs real resuming.
    assert full['best_epoch'] > ckpt['state']['epoch']
    assert torch.allclose(model.embedding()[USER], reference)
    assert resumed['test'] == pytest.approx(full['test'])
    assert resumed['best_epoch'] == full['best_epoch']


def test_save_atomic(tmp_path):
    path = str(tmp_path / 'sub' / 'ckpt.pt')
    save_atomic({'a': torch.ones(2)}, path)
    assert torch.equal(torch.load(path)['a'], torch.ones(2))
    assert os.listdir(tmp_path / 'sub') == ['ckpt.pt']


def test_trainer_errors():
    data = get_data()
    model, optimizer = setup(data)
    with pytest.raises(ValueError, match="'ks' must be a non-empty list"):
        Trainer(ks=[-5])
    with pytest.raises(ValueError, match="'patience' must be positive"):
        Trainer(patience=0)
    with pytest.raises(ValueError, match="Unknown 'reg' 'none'"):
        Trainer(reg='none')
    with pytest.raises(ValueError, match=r"'loss_weights' must map term "
                       r"names to finite numbers >= 0 \(got reg=-1.0\)"):
        Trainer(loss_weights={'reg': -1.0})
    short = Recommender(model.encoder,
                        embedding=NodeEmbedding({USER: 40, ITEM: 49}, 8))
    with pytest.raises(ValueError, match="49 rows for node type 'item'"):
        Trainer(max_epochs=1).fit(short, data, optimizer)
    # A bare encoder is refused with the way to wrap it.
    with pytest.raises(TypeError, match=r"'model' must be a 'Recommender'.*"
                       r"got LightGCN\); wrap your encoder"):
        Trainer(max_epochs=1).fit(model.encoder, data, optimizer)


def test_train_epoch_batch_reg():
    data = get_data()
    model, optimizer = setup(data)
    sampler = BPRSampler(data[EDGE].edge_index, 50)
    before = model.embedding()[ITEM].detach().clone()
    out = train_epoch(model, data, optimizer, sampler, batch_size=100,
                      reg='batch', weights={'reg': 1e-3})
    assert out['loss'] > 0
    assert out['loss'] == pytest.approx(out['rec'] + 1e-3 * out['reg'],
                                        rel=1e-6)
    assert not torch.equal(before, model.embedding()[ITEM])
