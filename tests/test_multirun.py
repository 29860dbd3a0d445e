r"""Hydra multiruns end to end: a sweep with its report and no key
written anywhere, the Optuna sweeper and the joblib launcher."""
import csv
import glob
import json
import math
import os
import os.path as osp
import subprocess
import sys

import pytest
from fake_openai_server import FakeOpenAIServer

from rlmrec_pyg.report import report

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
SECRET = 'sk-' + 'SENTINEL-4f1c9e-never-write-me'  # a made-up sentinel


def cli(args, tmp_path, **env):
    env = dict(os.environ, RLMREC_OUTPUT_DIR=str(tmp_path / 'out'),
               RLMREC_CACHE_DIR=str(tmp_path / 'cache'), HF_HUB_OFFLINE='1',
               OMP_NUM_THREADS='1', **env)
    return subprocess.run([sys.executable, '-m', 'rlmrec_pyg.cli.train'] +
                          args, cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_multirun_report_and_no_key_leak(tmp_path):
    sweep = tmp_path / 'sweep'
    with FakeOpenAIServer() as server:
        proc = cli([
            '-m', 'debug=fast', 'dataset.with_text=true', 'semantic=openai',
            f'semantic.encoder.base_url={server.url}',
            'alignment=none,contrastive', 'seed=1,2',
            'trainer.max_epochs=2', f'hydra.sweep.dir={sweep}',
            '+hydra.callbacks.report._target_='
            'rlmrec_pyg.cli.report.ReportCallback'
        ], tmp_path, OPENAI_API_KEY=SECRET)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert any(r['path'] == 'embeddings' for r in server.requests)
    runs = sorted(p for p in os.listdir(sweep) if p.isdigit())
    assert len(runs) == 4
    for run_dir in runs:
        with open(sweep / run_dir / 'metrics.json') as f:
            metrics = json.load(f)
        assert set(metrics['test']) >= {'recall@20', 'ndcg@5'}
        assert osp.isfile(sweep / run_dir / 'best.pt')
        with open(sweep / run_dir / 'history.csv') as f:
            rows = list(csv.DictReader(f))
        # Validations after epochs 0 and 1 (debug=fast: eval_every=1).
        assert [int(r['epoch']) for r in rows] == [0, 1]
        assert all(0 <= float(r['val/recall@20']) <= 1 and
                   math.isfinite(float(r['loss'])) for r in rows)
    # The saved config keeps the key as an interpolation only.
    with open(sweep / '0' / '.hydra' / 'config.yaml') as f:
        assert '${oc.env:OPENAI_API_KEY,null}' in f.read()

    # ReportCallback wrote and logged the table when the multirun ended.
    assert 'Report of' in proc.stdout + proc.stderr
    assert osp.isfile(sweep / 'report.md')
    paths = report(str(sweep))
    with open(paths['markdown']) as f:
        table = f.read()
    assert '| alignment=none | 2 |' in table
    assert table.count('| alignment=contrastive | 2 |') == 1
    assert ' %)' in table  # relative improvement of Con over its base
    assert osp.getsize(paths['figure']) > 1000

    for folder in (sweep, tmp_path / 'cache'):
        for root, _, files in os.walk(folder):
            for name in files:
                with open(osp.join(root, name), 'rb') as f:
                    assert SECRET.encode() not in f.read(), name
    assert SECRET not in proc.stdout + proc.stderr


def test_optuna_sweep_and_joblib_launcher(tmp_path):
    # The optional `hydra` extra: a 2-trial Optuna search of the alignment
    # weight and temperature, and a 2-job parallel sweep.
    pytest.importorskip('hydra_plugins.hydra_optuna_sweeper')
    pytest.importorskip('hydra_plugins.hydra_joblib_launcher')
    sweeps = {
        'optuna': (['hparams_search=optuna_alignment', 'alignment=contrastive',
                    'hydra.sweeper.n_trials=2'], 'Best parameters'),
        'joblib': (['hydra/launcher=parallel', 'seed=1,2'], 'Joblib.Parallel'),
    }
    for name, (overrides, printed) in sweeps.items():
        proc = cli(['-m', 'debug=fast', f'hydra.sweep.dir={tmp_path / name}']
                   + overrides, tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert printed in proc.stdout + proc.stderr
        assert len(glob.glob(str(tmp_path / name / '*' /
                                 'metrics.json'))) == 2
