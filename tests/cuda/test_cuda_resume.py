r"""Resuming on the device: a run stopped after its first epoch and resumed
from its checkpoint ends as the uninterrupted run (parameters, history),
with SGL's edge dropout drawn from the device's RNG."""
import csv
import os.path as osp
import sys

import pytest
import torch

from rlmrec_pyg.cli.train import to_device
from rlmrec_pyg.io import CorruptFileError, torch_load, torch_save
from rlmrec_pyg.nn import SGL
from rlmrec_pyg.testing import get_clustered_rec_data
from rlmrec_pyg.train import Trainer
from rlmrec_pyg.train.checkpoint import load_checkpoint

sys.path.insert(0, osp.join(osp.dirname(__file__), '..', 'train'))
from test_trainer import setup as build  # noqa: E402

pytestmark = pytest.mark.cuda

KWARGS = dict(eval_every=1, patience=100, batch_size=64,
              loss_weights={'reg': 1e-4, 'ssl': 0.1})
#: Columns of the history that a resumed run must reproduce.
TERMS = ('epoch', 'loss', 'rec', 'reg', 'ssl', 'val/recall@20')


def get_data(device):
    r"""The sizes of tests/train/test_trainer.py (40 users, 50 items), with
    taste clusters, so that validation improves in epoch 1, after the
    stop."""
    return to_device(get_clustered_rec_data(
        num_users=40, num_items=50, num_clusters=5, interactions_per_user=8,
        sem_channels=0, with_text=False), device)


def fit(data, device, folder, max_epochs, resume=False):
    r"""Builds SGL as tests/train/test_trainer.py does (seeded), moves it
    to :obj:`device` and trains it with a checkpoint and a history in
    :obj:`folder`; a resumed run starts from another RNG state."""
    model, optimizer = build(data, SGL)
    model.to(device)
    if resume:
        torch.manual_seed(123)  # the CPU's and every GPU's
    trainer = Trainer(max_epochs=max_epochs, **KWARGS,
                      checkpoint_path=str(folder / 'best.pt'),
                      history_path=str(folder / 'history.csv'))
    result = trainer.fit(model, data, optimizer, resume=resume)
    return model, result


def history(folder):
    r"""The :obj:`TERMS` of every epoch, in one list."""
    with open(folder / 'history.csv', newline='') as f:
        return [float(row[key]) for row in csv.DictReader(f)
                for key in TERMS]


def test_resume_equals_the_uninterrupted_run(device, tmp_path):
    # Catches: an RNG state not saved or not restored (mutations tried on
    # the dry run: `torch.set_rng_state(...)` removed from
    # `set_rng_states`: SGL's views in epoch 1 differ; on a GPU the same
    # for `torch.cuda.set_rng_state`), the optimizer state or the sampling
    # generator not restored, a checkpoint that cannot be read back on the
    # device. Float tolerance: a GPU's scatter-adds are not deterministic.
    data = get_data(device)
    (tmp_path / 'full').mkdir(), (tmp_path / 'run').mkdir()
    full_model, full = fit(data, device, tmp_path / 'full', 2)
    fit(data, device, tmp_path / 'run', 1)  # stopped after epoch 0
    ckpt = load_checkpoint(str(tmp_path / 'run' / 'best.pt'))
    assert ckpt['state']['epoch'] == 0
    assert ('cuda_rng' in ckpt) == (device.type == 'cuda')
    model, resumed = fit(data, device, tmp_path / 'run', 2, resume=True)
    # The best epoch comes after the stop: equality needs real resuming.
    assert full['best_epoch'] == resumed['best_epoch'] == 1
    for (name, want), got in zip(full_model.named_parameters(),
                                 model.parameters()):
        assert got.device.type == device.type
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6,
                                   msg=name)
    assert history(tmp_path / 'run') == pytest.approx(
        history(tmp_path / 'full'), rel=1e-4)
    assert resumed['test'] == pytest.approx(full['test'], rel=1e-4)


@pytest.mark.parametrize('key', ['torch_rng', 'cuda_rng'])
def test_a_broken_rng_state_is_one_clear_error(key, device, tmp_path):
    # Catches: an RNG state of the wrong type reaching `set_rng_state` (a
    # bare TypeError / RuntimeError that names no file).
    data = get_data(device)
    fit(data, device, tmp_path, 1)
    path = str(tmp_path / 'best.pt')
    ckpt = torch_load(path)
    ckpt[key] = torch.zeros(3, dtype=torch.float32)
    torch_save(ckpt, path)
    with pytest.raises(CorruptFileError, match=f"'{path}' has no valid "
                       f"'{key}' .*got torch.float32 tensor of shape \\[3\\]"):
        fit(data, device, tmp_path, 2, resume=True)
