import os
import subprocess
import sys

import pytest

from run_helpers import get_cfg

import rlmrec_pyg.cli.train as cli_train

SCRIPT = r'''
import sys, torch
from rlmrec_pyg.train import retain_freed_memory

def rss_mb():
    with open('/proc/self/status') as f:
        line = [x for x in f if x.startswith('VmRSS')][0]
    return int(line.split()[1]) / 1024

if sys.argv[1] == 'retain':
    assert retain_freed_memory()
x = torch.ones(64 * 2**20)  # 256 MiB, over glibc's 32 MiB mmap threshold
held = rss_mb()
del x
print(held - rss_mb())  # MiB given back to the system by the free
'''


@pytest.mark.skipif(not sys.platform.startswith('linux'),
                    reason='glibc malloc and /proc')
def test_retained_memory_is_not_given_back():
    def freed(mode):
        out = subprocess.run([sys.executable, '-c', SCRIPT, mode],
                             capture_output=True, text=True, env=dict(
                                 os.environ,
                                 PYTHONPATH=os.pathsep.join(sys.path)))
        assert out.returncode == 0, out.stderr[-2000:]
        return float(out.stdout.split()[-1])

    # By default the 256 MiB block is unmapped at free; retained, it stays
    # in the heap for the next step.
    assert freed('default') > 200
    assert freed('retain') < 20


def test_the_run_config_turns_it_on(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(cli_train, 'retain_freed_memory',
                        lambda: calls.append(1) or True)
    cli_train.run(get_cfg(tmp_path, ['retain_freed_memory=true']))
    cli_train.run(get_cfg(tmp_path / 'b', []))
    assert calls == [1]
