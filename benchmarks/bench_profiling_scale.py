r"""Profiling a synthetic catalogue at scale against the local fake
OpenAI-compatible server (``tests/fake_openai_server.py``), with injected
faults (429 with Retry-After, 500, timeouts, malformed and empty answers):

1. a profiling process runs until the cache holds :obj:`--kill-at`
   answers, and is then killed with SIGKILL;
2. a second process resumes and finishes (or, with
   :obj:`--resume-until`, is killed too at that many answers).

Reported: sustained requests and answers per second of the client on
loopback, its peak RSS, the time from the resumed process's start (and
from its :meth:`profile` call) to its first new request, and, counted at
the server: answers lost (nodes without one in the cache at the end),
nodes answered twice (only requests in flight at the kill can be), and
cached nodes asked again (must be none). A sample of the cached answers
is checked against the prompts the server saw.

.. code-block:: bash

    python -m benchmarks.bench_profiling_scale --num-items 1000000 \
        --kill-at 100000 --concurrency 64 --out profiling.json
"""
import argparse
import json
import os
import os.path as osp
import random
import signal
import sqlite3
import tempfile
import time
from collections import Counter

from benchmarks.common import (child_result, fake_openai_server,
                               print_result, profiling_child, start_child)

_fake = fake_openai_server()
FakeOpenAIServer = _fake.FakeOpenAIServer
prompt_id = _fake.prompt_id

CHILD = profiling_child("max_concurrency=option, timeout=1.0, backoff=0.05, "
                        "max_backoff=0.5, max_retries=8")
GOOD = (None, 'fenced', 'prose')  # faults whose answer parses


def answers(db: str) -> int:
    if not osp.exists(db):
        return 0
    try:
        con = sqlite3.connect(f'file:{db}?mode=ro', uri=True, timeout=5)
        try:
            return con.execute("SELECT count(*) FROM answers "
                               "WHERE status = 'ok'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def cached_pids(db: str) -> dict:
    con = sqlite3.connect(f'file:{db}?mode=ro', uri=True)
    try:
        return {node_id: json.loads(rec)['summarization'].split()[-1]
                for node_id, rec in con.execute(
                    "SELECT node_id, record FROM answers "
                    "WHERE status = 'ok'")}
    finally:
        con.close()


def start(url, cache, args):
    return start_child(CHILD, url, cache, args.num_items, args.concurrency)


def peak_rss_mb(pid: int) -> float:
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def run_until(child, db: str, target: int) -> dict:
    r"""Waits until :obj:`db` holds :obj:`target` answers, then kills
    :obj:`child` with SIGKILL; returns what was seen at the kill."""
    while answers(db) < target:
        if child.poll() is not None:
            raise RuntimeError('a profiling process ended early')
        time.sleep(0.2)
    rss = peak_rss_mb(child.pid)
    os.kill(child.pid, signal.SIGKILL)
    killed = time.time()
    child.wait()
    return dict(killed=killed, rss=rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--num-items', type=int, default=1_000_000)
    parser.add_argument('--kill-at', type=int, default=100_000)
    parser.add_argument('--resume-until', type=int, default=None,
                        help='kill the resumed run too at this many answers '
                        '(default: let it finish)')
    parser.add_argument('--concurrency', type=int, default=64)
    parser.add_argument('--fault-rate', type=float, default=0.1)
    parser.add_argument('--check', type=int, default=10_000,
                        help='cached answers checked against their prompt')
    parser.add_argument('--out', default=None)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='bench_profiling_')
    cache = osp.join(work, 'cache')
    db = osp.join(cache, 'profiles.sqlite')
    out = dict(num_items=args.num_items, concurrency=args.concurrency,
               fault_rate=args.fault_rate)
    with FakeOpenAIServer(fault_rate=args.fault_rate, retry_after='0.05',
                          slow_seconds=1.5) as server:
        # 1. Profile until --kill-at answers are cached, then SIGKILL.
        t0 = time.time()
        child = start(server.url, cache, args)
        started = float(child.stdout.readline().split()[1])
        kill = run_until(child, db, args.kill_at)
        first = len(server.requests)
        before = cached_pids(db)
        secs = kill['killed'] - started
        out['first_run'] = dict(
            answers_at_kill=len(before), seconds=round(secs, 1),
            answers_per_s=round(len(before) / secs, 1),
            requests_per_s=round(first / secs, 1),
            peak_rss_mb=round(kill['rss']),
            setup_seconds=round(started - t0, 1))
        # 2. Resume (to the end, or until --resume-until answers).
        t1 = time.time()
        child = start(server.url, cache, args)
        started = float(child.stdout.readline().split()[1])
        resumed: dict = {}
        if args.resume_until is not None:
            kill = run_until(child, db, args.resume_until)
            end, rss = kill['killed'], kill['rss']
        else:
            result = child_result(child)
            end, rss = result['end'], result['max_rss_mb']
            resumed['counts'] = result['counts']
        second = server.requests[first:]
        first_new = min(r['t'] for r in second)
        final = cached_pids(db)
        new_answers = len(final) - len(before)
        out['resume'] = dict(
            resumed, peak_rss_mb=round(rss), answers=new_answers,
            process_start_to_first_request_s=round(first_new - t1, 2),
            profile_call_to_first_request_s=round(first_new - started, 2),
            seconds=round(end - first_new, 1),
            requests_per_s=round(len(second) / (end - first_new), 1),
            answers_per_s=round(new_answers / (end - first_new), 1))
        # Counted at the server: every good answer it sent is in the cache,
        # but for the requests in flight in the client at a kill (at most
        # --concurrency a kill: sent, not yet received or committed).
        good = Counter(r['pid'] for r in server.requests
                       if r.get('path') == 'chat' and r['fault'] in GOOD)
        asked_again = {r['pid'] for r in second} & set(before.values())
        stored = set(final.values())
        out['server'] = dict(
            chat_requests=len(server.requests),
            faults=dict(Counter(str(r['fault']) for r in server.requests)),
            good_answers_sent=sum(good.values()),
            answers_stored=len(final),
            sent_but_not_stored=sum(1 for p in good if p not in stored),
            nodes_answered_twice=sum(c > 1 for c in good.values()),
            cached_nodes_asked_again=len(asked_again))
        if args.resume_until is None:
            out['server']['nodes_without_answer'] = args.num_items - len(
                final)
    # A sample of answers against the prompt of their node.
    from rlmrec_pyg.data.synthetic import synthetic_catalogue
    from rlmrec_pyg.profiles.prompt import item_prompt_of
    data = synthetic_catalogue(2000, args.num_items, 2 * args.num_items,
                               with_text=True)
    prompt = item_prompt_of(data, 'movie')
    sample = random.Random(0).sample(sorted(final), min(args.check,
                                                        len(final)))
    out['sample_checked'] = len(sample)
    out['sample_wrong'] = sum(final[i] != prompt_id(prompt(i))
                              for i in sample)
    print_result(out, args.out)


if __name__ == '__main__':
    main()
