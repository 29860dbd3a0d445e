r"""Semantic vectors of a large catalogue into half-precision vector stores,
killed and resumed, then memory-mapped by training:

1. ``minilm``: :obj:`--minilm-texts` profile-length texts encoded with the
   offline all-MiniLM-L6-v2 into a :class:`~rlmrec_pyg.semantic.VectorStore`
   by a process that is killed (SIGKILL) after :obj:`--kill-after` chunks;
   a second process resumes. Reported: texts/s, peak RSS, the texts the
   resumed run encoded (only the chunks not done).
2. ``store``: the same at catalogue size (:obj:`--num-items`, 384-d) with
   the hashing encoder (faster than MiniLM, a pure-Python tokeniser and
   sha256 per word): peak RSS of the writer, and resume.
3. ``train``: one epoch of LightGCN + RLMRec-Con (in-batch negatives in
   blocks of 1024, batches of 65536) on a synthetic catalogue of
   :obj:`--num-items` items whose vectors are the stores, memory-mapped
   (:class:`~rlmrec_pyg.semantic.MemoryMappedSemantic`): seconds and peak
   RSS beside the stores' size.

.. code-block:: bash

    python -m benchmarks.bench_vectors_scale --num-items 1000000 \
        --minilm-texts 20000 --out vectors.json
"""
import argparse
import json
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import tempfile
import time

from benchmarks.common import child_env, print_result

TEXTS = r'''
def texts(num):
    # Profile-length texts (about 70 words), distinct and deterministic.
    genres = ['drama', 'comedy', 'thriller', 'romance', 'documentary',
              'animation', 'horror', 'adventure']
    for i in range(num):
        g, h = genres[i % 8], genres[(i // 8) % 8]
        yield (f'Item {i} suits viewers who enjoy {g} with a touch of {h}. '
               f'They like character-driven stories, patient pacing and '
               f'endings that leave room to think; fans of {g} classics and '
               f'of recent {h} hits rate it highly, while those who want '
               f'constant action may find the middle slow. Cluster {i % 97},'
               f' decade {1950 + 10 * (i % 7)}, audience {i % 5}.')
'''

WRITER = TEXTS + r'''
import logging, os, signal, sys
from rlmrec_pyg.semantic import (HashTextEncoder, SentenceTransformerEncoder,
                                 VectorStore)
logging.basicConfig(level=logging.INFO, format='%(message)s')
kind, path, num, chunk, kill_after = sys.argv[1:6]
encoder = (SentenceTransformerEncoder(batch_size=128, progress=False)
           if kind == 'minilm' else HashTextEncoder(384))
if int(kill_after) > 0:  # SIGKILL while encoding chunk kill_after + 1
    inner, calls = encoder.encode, [0]
    def encode(batch):
        calls[0] += 1
        if calls[0] > int(kill_after):
            os.kill(os.getpid(), signal.SIGKILL)
        return inner(batch)
    encoder.encode = encode
    encoder.name = (SentenceTransformerEncoder(batch_size=128).name
                    if kind == 'minilm' else HashTextEncoder(384).name)
import time
start = time.time()
VectorStore(path).write(encoder, texts(int(num)), num_rows=int(num),
                        chunk_size=int(chunk), progress=False)
print('SECONDS', time.time() - start, flush=True)
'''

TRAIN = r'''
import json, resource, sys, time
import torch
from rlmrec_pyg.data.sampling import BPRSampler
from rlmrec_pyg.data.synthetic import synthetic_catalogue
from rlmrec_pyg.nn import ContrastiveAlignment, LightGCN, Recommender
from rlmrec_pyg.semantic import MemoryMappedSemantic
from rlmrec_pyg.train.loop import loss_weights, train_epoch
path, num_users, num_items, num_inter = sys.argv[1:5]
data = synthetic_catalogue(int(num_users), int(num_items), int(num_inter))
data = MemoryMappedSemantic(path)(data)
model = Recommender(ContrastiveAlignment(LightGCN(64), max_candidates=1024),
                    data, embedding_dim=64)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
edge = data['user', 'to', 'item'].edge_index
start = time.time()
stats = train_epoch(model, data, optimizer,
                    BPRSampler(edge, data['item'].num_nodes), 65536,
                    loss_weights({'rec': 1.0, 'reg': 1e-6, 'align': 0.1}),
                    'batch', torch.Generator().manual_seed(0))
print('RESULT', json.dumps(dict(
    epoch_seconds=time.time() - start, loss=stats['loss'],
    align=stats['align'], sem_dtype=str(data['item'].sem_emb.dtype),
    max_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
'''


def peak(pid_status_lines) -> float:
    for line in pid_status_lines:
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) / 1024
    return float('nan')


def write(kind, path, num, chunk, kill_after):
    r"""Runs one writer; returns its seconds (None when killed), peak RSS
    and the texts it encoded (from its log)."""
    env = child_env(OMP_NUM_THREADS=str(os.cpu_count()))
    proc = subprocess.Popen(
        [sys.executable, '-c', WRITER, kind, path, str(num), str(chunk),
         str(kill_after)], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    rss = 0.0
    lines = []
    while proc.poll() is None:
        try:
            with open(f'/proc/{proc.pid}/status') as f:
                rss = max(rss, peak(f))
        except FileNotFoundError:
            pass
        time.sleep(0.2)
    lines = proc.stdout.read().splitlines()
    seconds = [float(x.split()[1]) for x in lines if x.startswith('SECONDS')]
    encoded = [int(m.group(1)) for m in (re.search(
        r': (\d+) texts encoded', x) for x in lines) if m]
    return dict(returncode=proc.returncode,
                seconds=seconds[0] if seconds else None,
                peak_rss_mb=round(rss), encoded=encoded[0] if encoded
                else None)


def stage(kind, path, num, chunk, kill_after):
    killed = write(kind, path, num, chunk, kill_after)
    assert killed['returncode'] == -signal.SIGKILL, killed
    from rlmrec_pyg.semantic import VectorStore
    done = VectorStore(path).done()
    resumed = write(kind, path, num, chunk, 0)
    assert resumed['returncode'] == 0, resumed
    left = num - sum(min(chunk, num - i * chunk)
                     for i, d in enumerate(done) if d)
    return dict(texts=num, chunk=chunk, chunks_done_at_kill=sum(done),
                texts_left_at_kill=left, resumed_encoded=resumed['encoded'],
                resumed_seconds=round(resumed['seconds'], 1),
                texts_per_s=round(resumed['encoded'] / resumed['seconds'], 1),
                peak_rss_mb=max(killed['peak_rss_mb'],
                                resumed['peak_rss_mb']),
                store_mb=round(osp.getsize(osp.join(path, 'vectors.f16')) /
                               2**20))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--num-items', type=int, default=1_000_000)
    parser.add_argument('--num-users', type=int, default=100_000)
    parser.add_argument('--num-interactions', type=int, default=2_000_000)
    parser.add_argument('--minilm-texts', type=int, default=20_000)
    parser.add_argument('--chunk', type=int, default=4096)
    parser.add_argument('--store-chunk', type=int, default=32768)
    parser.add_argument('--kill-after', type=int, default=2,
                        help='chunks written before the SIGKILL')
    parser.add_argument('--stores', default=None,
                        help='train only, on the stores of an earlier run')
    parser.add_argument('--out', default=None)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='bench_vectors_')
    out: dict = {}
    stores = args.stores or osp.join(work, 'stores')
    if args.stores is None:
        out['minilm'] = stage('minilm', osp.join(work, 'minilm'),
                              args.minilm_texts, args.chunk, args.kill_after)
        print(json.dumps(out, indent=1), flush=True)
        chunk = args.store_chunk
        out['store'] = stage('hash', osp.join(stores, 'item'),
                             args.num_items, chunk,
                             max(1, args.num_items // chunk // 2))
        write('hash', osp.join(stores, 'user'), args.num_users, chunk, 0)
        print(json.dumps(out, indent=1), flush=True)
    env = child_env(OMP_NUM_THREADS='2')
    proc = subprocess.run(
        [sys.executable, '-c', TRAIN, stores, str(args.num_users),
         str(args.num_items), str(args.num_interactions)], env=env,
        capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith('RESULT')][0]
    out['train'] = dict(json.loads(line.split(' ', 1)[1]),
                        num_users=args.num_users, num_items=args.num_items,
                        num_interactions=args.num_interactions,
                        stores_mb=round(sum(
                            osp.getsize(osp.join(stores, t, 'vectors.f16'))
                            for t in ('user', 'item')) / 2**20))
    out['train']['epoch_seconds'] = round(out['train']['epoch_seconds'], 1)
    out['train']['max_rss_mb'] = round(out['train']['max_rss_mb'])
    print_result(out, args.out)


if __name__ == '__main__':
    main()
