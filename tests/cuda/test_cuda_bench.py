r"""The GPU timing of the Table 4 layout runs: ``python -m
benchmarks.bench_ssl_backbones --device cuda`` in its smoke setting, as
benchmarks/README.md documents it."""
import json
import math
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

pytestmark = pytest.mark.cuda

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_bench_ssl_backbones_on_the_gpu(device, tmp_path):
    # Catches: a benchmark case that fails on the GPU (a CPU tensor in its
    # path), the GPU's name missing from the header or the JSON settings.
    if device.type != 'cuda':
        pytest.skip('the CPU smoke run is tests/test_benchmarks.py')
    out = tmp_path / 'ssl.json'
    proc = subprocess.run(
        [sys.executable, '-m', 'benchmarks.bench_ssl_backbones', '--smoke',
         '--device', 'cuda', '--threads', '1', '--json', str(out)],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO), capture_output=True,
        text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    gpu = torch.cuda.get_device_name()
    assert f'device cuda, gpu {gpu}' in proc.stdout
    with open(out) as f:
        result = json.load(f)
    assert result['settings']['device'] == 'cuda'
    assert result['settings']['gpu'] == gpu
    assert len(result['cases']) == 18
    for name, terms in result['terms'].items():
        assert all(math.isfinite(v) for v in terms.values()), name
