r"""The Batch API path at scale against the local fake OpenAI-compatible
server (``tests/fake_openai_server.py``; its batches finish on the second
poll): :obj:`--num-items` item prompts, a cap of :obj:`--max-enqueued`
requests in flight, a SIGKILL once :obj:`--kill-after` batches exist, and
a resumed run to the end.

Reported, counted at the server: input files and batches, the most
requests enqueued at once (against the cap), batch lines (nothing submitted
twice: lines = prompts + failed lines, each failure retried once in a
later round, and no prompt answered twice), and the answers stored; the
client's peak RSS and seconds.

.. code-block:: bash

    python -m benchmarks.bench_batch_scale --num-items 1000000 \
        --max-enqueued 200000 --out batch.json
"""
import argparse
import json
import os
import os.path as osp
import signal
import sqlite3
import tempfile
import time
from collections import Counter

from benchmarks.common import (child_result, fake_openai_server,
                               print_result, profiling_child, start_child)

_fake = fake_openai_server()
FakeOpenAIServer = _fake.FakeOpenAIServer

CHILD = profiling_child("mode='batch', poll_interval=0.2, "
                        "batch_max_requests=option, max_retries=3")


def start(url, cache, args):
    return start_child(CHILD, url, cache, args.num_items, args.max_enqueued)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--num-items', type=int, default=1_000_000)
    parser.add_argument('--max-enqueued', type=int, default=200_000)
    parser.add_argument('--kill-after', type=int, default=3,
                        help='batches created before the SIGKILL')
    parser.add_argument('--fault-rate', type=float, default=0.01)
    parser.add_argument('--out', default=None)
    args = parser.parse_args()
    cache = osp.join(tempfile.mkdtemp(prefix='bench_batch_'), 'cache')
    out = dict(num_items=args.num_items, max_enqueued=args.max_enqueued,
               fault_rate=args.fault_rate)
    with FakeOpenAIServer(fault_rate=args.fault_rate,
                          faults=('500', 'malformed')) as server:
        t0 = time.time()
        child = start(server.url, cache, args)
        while len(server.batches) < args.kill_after:
            if child.poll() is not None:
                raise RuntimeError('the first batch run ended early')
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        out['killed_after_s'] = round(time.time() - t0, 1)
        out['batches_at_kill'] = len(server.batches)
        state = osp.join(cache, 'batches.json')
        out['pending_at_kill'] = 0
        if osp.exists(state):  # killed after its first save
            with open(state) as f:
                out['pending_at_kill'] = len(json.load(f))
        t1 = time.time()
        result = child_result(start(server.url, cache, args))
        out['resume'] = dict(counts=result['counts'],
                             seconds=round(result['end'] - t1, 1),
                             peak_rss_mb=round(result['max_rss_mb']))
        lines = Counter(r['pid'] for r in server.requests
                        if r['path'] == 'batch_line')
        good = Counter(r['pid'] for r in server.requests
                       if r['path'] == 'batch_line' and r['fault'] is None)
        sizes = [server.files[b['input_file_id']].count(b'\n')
                 for b in server.batches.values()]
        out['server'] = dict(
            input_files=len(sizes), batches=len(server.batches),
            largest_file=max(sizes), max_enqueued=server.max_enqueued,
            batch_lines=sum(lines.values()), prompts=len(lines),
            prompts_answered_more_than_once=sum(c > 1 for c in
                                                good.values()),
            failed_lines=sum(1 for r in server.requests
                             if r['path'] == 'batch_line'
                             and r['fault'] is not None))
    con = sqlite3.connect(osp.join(cache, 'profiles.sqlite'))
    out['answers_stored'] = con.execute(
        "SELECT count(*) FROM answers WHERE status = 'ok'").fetchone()[0]
    con.close()
    print_result(out, args.out)


if __name__ == '__main__':
    main()
