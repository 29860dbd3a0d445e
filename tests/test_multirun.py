import csv
import glob
import json
import math
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from fake_openai_server import FakeOpenAIServer
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict
from run_helpers import RUN_MODULE, run

from rlmrec_pyg.nn import NodeEmbedding
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.train.report import report
from rlmrec_pyg.train.studies import (load_pretrained, prepare_data,
                                      shuffle_semantic, time_window)
from rlmrec_pyg.typing import EDGE, ITEM, SEM_EMB, USER

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
SECRET = 'sk-' + 'SENTINEL-4f1c9e-never-write-me'  # a made-up sentinel


def get_cfg(tmp_path, overrides):
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base='1.3',
                               config_dir=osp.join(ROOT, 'conf')):
        cfg = compose('train', overrides=['debug=fast'] + overrides)
    GlobalHydra.instance().clear()
    with open_dict(cfg):
        cfg.output_dir = str(tmp_path)
    return cfg


def cli(args, tmp_path, **env):
    env = dict(os.environ, RLMREC_OUTPUT_DIR=str(tmp_path / 'out'),
               RLMREC_CACHE_DIR=str(tmp_path / 'cache'), HF_HUB_OFFLINE='1',
               OMP_NUM_THREADS='1', **env)
    return subprocess.run([sys.executable, '-m', RUN_MODULE] +
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
            'rlmrec_pyg.train.report.ReportCallback'
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


def test_alignment_without_semantic_fails_at_start(tmp_path):
    # (Unknown dataset/model names: tests/test_configs.py.)
    # Alignment on a graph without semantic vectors or text: one sentence,
    # before any training (no checkpoint, no metrics).
    cfg = get_cfg(tmp_path, ['alignment=contrastive',
                             'dataset.sem_channels=0'])
    with pytest.raises(ValueError, match="^Alignment needs semantic vectors,"
                       " but dataset '[^']+' has no 'sem_emb' "):
        run(cfg)
    cfg = get_cfg(tmp_path, ['alignment=generative', 'semantic=minilm'])
    with pytest.raises(ValueError, match='has no item profiles or text'):
        run(cfg)
    assert not os.listdir(tmp_path)


def test_shuffle_semantic():
    data = get_random_rec_data()
    out = shuffle_semantic(data, seed=1)
    for nt in (USER, ITEM):
        old, new = data[nt][SEM_EMB], out[nt][SEM_EMB]
        assert not torch.equal(old, new)
        # Same rows, permuted: each new row is exactly one old row.
        match = (new[:, None, :] == old[None, :, :]).all(-1)
        assert match.sum(1).eq(1).all() and match.sum(0).eq(1).all()
    assert torch.equal(out[USER][SEM_EMB],
                       shuffle_semantic(data, seed=1)[USER][SEM_EMB])
    assert data[EDGE].edge_index is out[EDGE].edge_index


def test_time_window():
    data = get_random_rec_data(num_users=30, num_items=40)
    gen = torch.Generator().manual_seed(0)
    for key, t in (('edge_index', 'time'), ('val_edge_index', 'val_time'),
                   ('test_edge_index', 'test_time')):
        n = data[EDGE][key].size(1)
        data[EDGE][t] = torch.randint(1000, (n, ), generator=gen)
    times = torch.cat([data[EDGE].time, data[EDGE].val_time,
                       data[EDGE].test_time]).double()
    early, late = time_window(data, 0.0, 0.5), time_window(data, 0.5, 1.0)
    median = torch.quantile(times, 0.5)
    total = 0
    for key, t in (('edge_index', 'time'), ('val_edge_index', 'val_time'),
                   ('test_edge_index', 'test_time')):
        assert (early[EDGE][t] < median).all()
        assert (late[EDGE][t] >= median).all()
        # Every interaction stays in its split, in exactly one window.
        assert early[EDGE][key].size(1) + late[EDGE][key].size(1) == \
            data[EDGE][key].size(1)
        total += early[EDGE][key].size(1)
    assert abs(total - times.numel() / 2) <= (times == median).sum() + 1
    assert torch.equal(late['item', 'rev_to', 'user'].edge_index,
                       late[EDGE].edge_index.flip(0))
    assert late[USER].num_nodes == 30
    with pytest.raises(ValueError, match='needs interaction timestamps'):
        time_window(get_random_rec_data(), 0.0, 0.5)
    with pytest.raises(ValueError, match='0 <= start < end <= 1'):
        time_window(data, 0.5, 0.5)


def test_noise_and_pretrained_init(tmp_path):
    cfg = get_cfg(tmp_path, ['noise_ratio=0.2'])
    data = get_random_rec_data(num_users=60, num_items=80,
                               num_interactions=900)
    noisy = prepare_data(data, cfg, align=False)
    num = data[EDGE].edge_index.size(1)
    assert noisy[EDGE].edge_index.size(1) == num + int(0.2 * num)
    assert torch.equal(noisy[EDGE].test_edge_index, data[EDGE].test_edge_index)

    out = run(get_cfg(tmp_path, ['trainer.max_epochs=1']))
    assert math.isfinite(out['test/recall@20'])
    with open(tmp_path / 'history.csv') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and rows[0]['epoch'] == '0'
    assert math.isclose(float(rows[0]['val/recall@20']),
                        out['val/recall@20'], abs_tol=1e-4)
    emb = NodeEmbedding({USER: 60, ITEM: 80}, 32)
    load_pretrained(str(tmp_path / 'best.pt'), emb)
    saved = torch.load(tmp_path / 'best.pt', weights_only=False)
    assert torch.equal(emb.weight_dict[USER], saved['embedding']
                       ['weight_dict.user'])
    with pytest.raises(ValueError, match="'init_from' checkpoint"):
        load_pretrained(str(tmp_path / 'missing.pt'), emb)


def test_pretrain_then_finetune(tmp_path):
    cfg = get_cfg(tmp_path, ['+pretrain.enabled=true', 'alignment=contrastive',
                             'trainer.max_epochs=1'])
    out = run(cfg)
    assert math.isfinite(out['test/recall@20'])
    assert math.isfinite(out['pretrain/test/recall@20'])
    assert osp.isfile(tmp_path / 'pretrain' / 'best.pt')
    assert osp.isfile(tmp_path / 'metrics.json')


def test_report_values(tmp_path):
    # Naive reference: mean and sample std over seeds, improvement over the
    # base with the same other overrides.
    values = {('none', '0.0'): [0.10, 0.12], ('contrastive', '0.0'):
              [0.13, 0.11, 0.15], ('none', '0.2'): [0.08, 0.08],
              ('contrastive', '0.2'): [0.09, 0.10], ('none', '0.1'): [0.09]}
    num = 0
    for (alignment, noise), recalls in values.items():
        for seed, recall in enumerate(recalls):
            run_dir = tmp_path / str(num)
            (run_dir / '.hydra').mkdir(parents=True)
            (run_dir / '.hydra' / 'overrides.yaml').write_text(
                f'- alignment={alignment}\n- noise_ratio={noise}\n'
                f'- seed={seed}\n')
            metrics = {'recall@20': recall, 'ndcg@20': recall / 2}
            (run_dir / 'metrics.json').write_text(json.dumps(dict(
                val=metrics, test=metrics, seconds=6.0, last_epoch=2)))
            num += 1
    (tmp_path / 'pretrain').mkdir()  # not a run: no .hydra folder
    paths = report(str(tmp_path), str(tmp_path / 'out'))
    with open(paths['summary']) as f:
        rows = {(r['setting']['alignment'], r['setting']['noise_ratio']): r
                for r in json.load(f)}
    for key, recalls in values.items():
        mean = sum(recalls) / len(recalls)
        var = (sum((r - mean)**2 for r in recalls) / (len(recalls) - 1)
               if len(recalls) > 1 else 0.0)
        assert rows[key]['n'] == len(recalls)
        assert math.isclose(rows[key]['mean']['recall@20'], mean)
        assert math.isclose(rows[key]['std']['recall@20'], math.sqrt(var))
        assert math.isclose(rows[key]['mean']['s/epoch'], 2.0)
    imprv = rows['contrastive', '0.2']['imprv']['recall@20']
    assert math.isclose(imprv, 100 * (0.095 / 0.08 - 1))
    assert rows['none', '0.0']['imprv'] is None
    with open(paths['markdown']) as f:
        table = f.read()
    assert '| alignment=contrastive noise_ratio=0.0 | 3 | 0.1300 ± 0.0200 ' \
        '(+18.18 %) |' in table
    assert osp.getsize(paths['figure']) > 1000  # noise_ratio on the x-axis
    with pytest.raises(ValueError, match="No run with a 'metrics.json'"):
        report(str(tmp_path / 'pretrain'))


def test_report_without_matplotlib(tmp_path, monkeypatch):
    run_dir = tmp_path / '0'
    (run_dir / '.hydra').mkdir(parents=True)
    (run_dir / '.hydra' / 'overrides.yaml').write_text('- seed=1\n')
    (run_dir / 'metrics.json').write_text(json.dumps(
        dict(test={'recall@20': 0.1})))
    monkeypatch.setitem(sys.modules, 'matplotlib', None)
    paths = report(str(tmp_path))
    assert 'figure' not in paths and not osp.exists(tmp_path / 'report.png')
    with open(paths['markdown']) as f:
        assert '| (defaults) | 1 | 0.1000 ± 0.0000 |' in f.read()


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
