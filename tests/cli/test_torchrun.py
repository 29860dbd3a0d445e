r"""``rlmrec-train`` under ``torchrun`` (2 CPU processes, gloo): one run
folder written by rank 0, the one-process training trajectory, resume."""
import csv
import glob
import json
import os
import os.path as osp
import socket
import subprocess
import sys
import tempfile

import pytest
from run_helpers import RUN_MODULE

ARGS = ['debug=fast', 'dataset=clustered', 'alignment=contrastive',
        'trainer.batch_size=64', 'seed=7']


def torchrun():
    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    return [sys.executable, '-m', 'torch.distributed.run', '--nproc-per-node',
            '2', '--master-addr', '127.0.0.1', '--master-port', str(port)]


def train(tmp_path, run_dir, *overrides, launcher=()):
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    env.pop('RANK', None)
    env.pop('WORLD_SIZE', None)
    out = subprocess.run(
        [*launcher, *([] if launcher else [sys.executable]), '-m',
         RUN_MODULE, *ARGS, f'hydra.run.dir={run_dir}', *overrides],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def history(run_dir):
    with open(osp.join(run_dir, 'history.csv')) as f:
        return list(csv.DictReader(f))


def leftovers():
    return set(glob.glob(osp.join(tempfile.gettempdir(), 'rlmrec_rank*')))


def test_two_processes_train_like_one_into_one_folder(tmp_path):
    before = leftovers()
    one, two = tmp_path / 'one', tmp_path / 'two'
    train(tmp_path, one, 'trainer.max_epochs=3')
    train(tmp_path, two, 'trainer.max_epochs=3', launcher=torchrun())
    assert sorted(os.listdir(two)) == sorted(os.listdir(one))
    assert {'metrics.json', 'history.csv', 'best.pt', '.hydra'} <= set(
        os.listdir(two))
    assert leftovers() == before  # rank 1's Hydra files were removed
    # Rank 0 alone logged the epochs.
    log = (two / 'train.log').read_text()
    assert log.count('Epoch    0') == 1
    # The same training, up to the order of floating-point sums.
    rows_one, rows_two = history(one), history(two)
    assert len(rows_one) == len(rows_two) == 3
    for a, b in zip(rows_one, rows_two):
        for key in ('loss', 'rec', 'reg', 'align'):
            assert float(b[key]) == pytest.approx(float(a[key]), rel=1e-4)
    m1 = json.loads((one / 'metrics.json').read_text())
    m2 = json.loads((two / 'metrics.json').read_text())
    for key, value in m1['test'].items():
        assert m2['test'][key] == pytest.approx(value, abs=1e-3), key


def test_resume_under_torchrun(tmp_path):
    run_dir = tmp_path / 'run'
    train(tmp_path, run_dir, 'trainer.max_epochs=2', launcher=torchrun())
    train(tmp_path, run_dir, 'trainer.max_epochs=4', 'resume=true',
          launcher=torchrun())
    rows = history(run_dir)
    assert [int(r['epoch']) for r in rows] == [0, 1, 2, 3]
    log = (run_dir / 'train.log').read_text()
    assert 'Resumed from' in log


def test_sampled_training_under_torchrun(tmp_path):
    run_dir = tmp_path / 'run'
    train(tmp_path, run_dir, 'model=graphsage', 'trainer.max_epochs=2',
          'trainer.num_neighbors=[5,5]', 'trainer.reg=batch',
          launcher=torchrun())
    metrics = json.loads((run_dir / 'metrics.json').read_text())
    assert metrics['protocol'].startswith('sampled (LinkNeighborLoader')
    rows = history(run_dir)
    assert [int(r['epoch']) for r in rows] == [0, 1]
    assert float(rows[1]['rec']) < float(rows[0]['rec'])
