import os
import os.path as osp
import signal
import subprocess
import sys
import time

from fake_openai_server import FakeOpenAIServer, prompt_id
from profile_helpers import (num_answers, ok_per_node, profiler_kwargs,
                             review_data)

from rlmrec_pyg.profiles import OpenAIProfiler, ProfileCache
from rlmrec_pyg.typing import ITEM, PROFILE, USER

HERE = osp.dirname(__file__)


def test_sigkill_mid_run_then_restart(tmp_path):
    cache_dir = str(tmp_path / 'cache')
    path = osp.join(cache_dir, 'profiles.sqlite')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [HERE, osp.dirname(HERE)] + sys.path))
    with FakeOpenAIServer(fault_rate=0.25, latency=0.05,
                          slow_seconds=0.8) as server:
        child = subprocess.Popen(
            [sys.executable, osp.join(HERE, 'profile_child.py'), server.url,
             cache_dir], env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        deadline = time.time() + 120
        while time.time() < deadline and child.poll() is None:
            if num_answers(cache_dir) >= 15:
                break
            time.sleep(0.02)
        assert child.poll() is None, child.stderr.read().decode()[-2000:]
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        before = {k[2] for k in ProfileCache(path).ok}  # Killed mid-way.
        assert 15 <= len(before) < 70
        num_requests = len(server.requests)

        data = review_data(num_users=30, num_items=40)
        profiler = OpenAIProfiler(**profiler_kwargs(server.url, cache_dir,
                                                    max_concurrency=3))
        out = profiler(data)
    # Zero lost: every node has its answer, and the right one.
    for node_type, item_profiles in ((ITEM, None), (USER, out[ITEM].profile)):
        prompts = profiler.prompts(data, node_type, item_profiles)
        assert out[node_type][PROFILE] == [
            f'profile {prompt_id(p)}' for p in prompts
        ]
    # Zero duplicated: one answer per node in the cache.
    counts = ok_per_node(path)
    assert len(counts) == 70 and set(counts.values()) == {1}
    # No request for a node answered before the kill (the fake answer of a
    # prompt is 'profile <its server-side id>').
    cached = {
        rec['summarization'].split()[-1]
        for rec in ProfileCache(path).ok.values() if rec['hash'] in before
    }
    asked_after = {r['pid'] for r in server.requests[num_requests:]}
    assert len(cached) == len(before) and not cached & asked_after
