import json
import os
import os.path as osp
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fake_openai_server import FakeOpenAIServer
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf, open_dict

from rlmrec_pyg.cli.vectors import vectors
from rlmrec_pyg.typing import ITEM, USER

CONF = str(Path(__file__).resolve().parents[2] / 'conf')
PROFILES = sorted(p.stem for p in Path(CONF, 'profiles').glob('*.yaml'))
SEMANTIC = sorted(p.stem for p in Path(CONF, 'semantic').glob('*.yaml'))


def make_cfg(tmp_path, *overrides):
    with initialize_config_dir(version_base='1.3', config_dir=CONF):
        cfg = compose('vectors', overrides=['dataset=fake', *overrides])
    with open_dict(cfg):
        cfg.output_dir = str(tmp_path / 'out')
    return cfg


@pytest.mark.parametrize('profiles', PROFILES)
@pytest.mark.parametrize('semantic', SEMANTIC)
def test_every_config_composes(tmp_path, monkeypatch, profiles, semantic):
    monkeypatch.setenv('OPENAI_API_KEY', 'sk-compose-sentinel')
    cfg = make_cfg(tmp_path, f'profiles={profiles}', f'semantic={semantic}',
                   *(['semantic.path=stores'] if semantic == 'stored' else []))
    assert 'sk-compose-sentinel' not in OmegaConf.to_yaml(cfg)
    profiler, transform = instantiate(cfg.profiles), instantiate(cfg.semantic)
    assert profiler.domain == 'movie' and callable(transform)
    assert 'sk-compose-sentinel' not in repr(profiler) + repr(transform)


def test_vectors_offline(tmp_path, monkeypatch):
    monkeypatch.setenv('RLMREC_CACHE_DIR', str(tmp_path / 'cache'))
    cfg = make_cfg(tmp_path)
    cfg.semantic.encoder = {
        '_target_': 'rlmrec_pyg.semantic.HashTextEncoder',
        'dim': 8
    }
    metrics = vectors(cfg)
    assert metrics['num_users'] == 60 and metrics['sem_channels'] == 8
    assert metrics['texts_per_second'] > 0
    out = cfg.output_dir
    emb = torch.load(osp.join(out, 'sem_emb.pt'))
    assert emb[USER].shape == (60, 8) and emb[ITEM].shape == (80, 8)
    with open(osp.join(out, 'profiles.jsonl')) as f:
        rows = [json.loads(line) for line in f]
    assert len(rows) == 140 and rows[0]['node_type'] == ITEM
    assert os.listdir(tmp_path / 'cache' / 'embeddings')


def test_dry_run_without_network(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError('network access in a dry run')

    monkeypatch.setattr(socket.socket, 'connect', refuse)
    monkeypatch.setenv('RLMREC_CACHE_DIR', str(tmp_path / 'cache'))
    report = vectors(make_cfg(tmp_path, 'profiles=openai', 'dry_run=true'))
    assert report[ITEM]['to_ask'] == 80 and report[USER]['to_ask'] == 60
    assert report[USER]['prompt_tokens'] > 0 and report['cost_usd'] > 0
    assert not osp.exists(tmp_path / 'out')


def test_api_key_is_in_no_output_cache_or_log(tmp_path):
    sentinel = 'sk-' + 'LEAKCHECK-7f3a9c1e5b'  # a made-up sentinel
    env = dict(os.environ, OPENAI_API_KEY=sentinel,
               RLMREC_CACHE_DIR=str(tmp_path / 'cache'))
    faults = ('429', '500', 'malformed', 'empty', 'fenced')
    with FakeOpenAIServer(fault_rate=0.3, faults=faults) as server:
        run = subprocess.run([
            sys.executable, '-m', 'rlmrec_pyg.cli.vectors', 'dataset=fake',
            'profiles=openai', f'profiles.base_url={server.url}',
            'profiles.backoff=0.001', 'semantic=openai',
            f'semantic.encoder.base_url={server.url}',
            f'hydra.run.dir={tmp_path}/out', 'hydra.verbose=true'
        ], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert any(r['fault'] for r in server.requests)
    logs = run.stdout + run.stderr
    assert 'DEBUG' in logs and 'openai' in logs  # The SDK's debug lines.
    assert osp.exists(tmp_path / 'out' / 'usage.json')
    assert sentinel not in logs
    files = [p for p in tmp_path.rglob('*') if p.is_file()]
    assert len(files) >= 8
    for path in files:
        assert sentinel.encode() not in path.read_bytes(), path
    assert {'profiles.jsonl', 'vectors.log', 'config.yaml'} <= {
        p.name for p in files
    }


def test_vectors_to_stores_then_training_maps_them(tmp_path, monkeypatch):
    from run_helpers import get_cfg, run

    monkeypatch.setenv('RLMREC_CACHE_DIR', str(tmp_path / 'cache'))
    store = tmp_path / 'store'
    cfg = make_cfg(tmp_path, f'semantic.store_dir={store}',
                   'semantic.chunk_size=32')
    cfg.semantic.encoder = {
        '_target_': 'rlmrec_pyg.semantic.HashTextEncoder',
        'dim': 8
    }
    metrics = vectors(cfg)
    assert metrics['store_dir'] == str(store) and metrics['sem_channels'] == 8
    assert not osp.exists(osp.join(cfg.output_dir, 'sem_emb.pt'))
    assert sorted(os.listdir(store)) == [ITEM, USER]
    # Training on the same graph, without vectors of its own, aligns with
    # the memory-mapped stores.
    train = get_cfg(tmp_path / 'run', [
        'alignment=contrastive', 'semantic=stored',
        f'semantic.path={store}', 'dataset.sem_channels=0'
    ])
    out = run(train)
    assert out['test/recall@20'] > 0 and out['last_epoch'] == 0
