r"""The outputs of ``rlmrec-vectors`` survive a crash in
the middle of their write: the previous file stays whole."""
import json
import os
import types
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import open_dict

import rlmrec_pyg.cli.vectors as run
from rlmrec_pyg.profiles import OfflineProfiler
from rlmrec_pyg.profiles.usage import Usage

CONF = str(Path(__file__).resolve().parents[2] / 'conf')
OUTPUTS = ('profiles.jsonl', 'sem_emb.pt', 'usage.json', 'metrics.json')


class Crash(OSError):
    pass


def crash_in(name, real):
    r"""Wraps a writer :obj:`real(obj, f, ...)`: for the file :obj:`name`
    (or its temporary file), it writes half a payload and raises."""
    def write(obj, f, *args, **kwargs):
        if name not in str(getattr(f, 'name', f)):
            return real(obj, f, *args, **kwargs)
        if hasattr(f, 'write'):
            f.write('{"half' if 'b' not in f.mode else b'half')
        else:
            Path(f).write_bytes(b'half')
        raise Crash(f'killed while writing {name}')
    return write


def crash_in_profiles(monkeypatch):
    calls = []

    def dumps(obj, **kwargs):
        calls.append(obj)
        if len(calls) > 2:
            raise Crash('killed while writing profiles.jsonl')
        return json.dumps(obj, **kwargs)

    monkeypatch.setattr(run, 'json', types.SimpleNamespace(dumps=dumps))


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    r"""A run on the fake dataset whose (offline) profiler reports usage,
    so that all four outputs are written."""
    monkeypatch.setenv('RLMREC_CACHE_DIR', str(tmp_path / 'cache'))
    for attr, value in (('usage', Usage(requests=3)), ('model', 'gpt-4o'),
                        ('price_per_1m', None), ('mode', 'async')):
        monkeypatch.setattr(OfflineProfiler, attr, value, raising=False)
    with initialize_config_dir(version_base='1.3', config_dir=CONF):
        cfg = compose('vectors', overrides=['dataset=fake'])
    with open_dict(cfg):
        cfg.output_dir = str(tmp_path / 'out')
    cfg.semantic.encoder = {
        '_target_': 'rlmrec_pyg.semantic.HashTextEncoder', 'dim': 8}
    return cfg


@pytest.mark.parametrize('name', OUTPUTS)
def test_a_crash_mid_write_keeps_the_old_output(cfg, monkeypatch, name):
    # Catches: any of the four outputs written with a plain open(..., 'w')
    # or torch.save(obj, path), which truncates the old file first.
    out = Path(cfg.output_dir)
    out.mkdir()
    for output in OUTPUTS:
        (out / output).write_bytes(b'old ' + output.encode())
    if name == 'profiles.jsonl':
        crash_in_profiles(monkeypatch)
    elif name == 'sem_emb.pt':
        monkeypatch.setattr(torch, 'save', crash_in(name, torch.save))
    else:
        monkeypatch.setattr(json, 'dump', crash_in(name, json.dump))
    with pytest.raises(Crash, match=name):
        run.vectors(cfg)
    assert (out / name).read_bytes() == b'old ' + name.encode()
    assert sorted(os.listdir(out)) == sorted(OUTPUTS)  # No temporary left.


def test_all_outputs_are_written(cfg):
    # Catches: an output (usage.json above all) dropped by the rewrite.
    run.vectors(cfg)
    out = Path(cfg.output_dir)
    assert json.loads((out / 'usage.json').read_text())['requests'] == 3
    assert json.loads((out / 'metrics.json').read_text())['num_items'] == 80
    assert len((out / 'profiles.jsonl').read_text().splitlines()) == 140
    emb = torch.load(out / 'sem_emb.pt', weights_only=True)
    assert emb['user'].shape == (60, 8) and emb['item'].shape == (80, 8)
