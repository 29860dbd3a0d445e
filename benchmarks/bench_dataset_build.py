r"""The dataset builder (:class:`~rlmrec_pyg.data.RawReviews`' recipe) on
synthetic ratings files of :obj:`--rows` records: seconds and peak memory
of one build (read, rating filter, de-duplication, user sample, 10-core,
split) in a fresh process, beside the file's size.

The files hold long-tailed users and items (``U<n>`` / ``I<n>`` ids),
ratings 1-5 (about a fifth below 3), timestamps and a review text per
record, written in :obj:`--format` (CSV, JSON lines or Parquet) in chunks
of 10⁶ rows.

.. code-block:: bash

    python -m benchmarks.bench_dataset_build --rows 1e6 1e7 --format csv
"""
import argparse
import json
import math
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.common import child_env, print_result

BUILD = r'''
import json, resource, sys, time
from rlmrec_pyg.data import build_from_raw
from rlmrec_pyg.data.recipe import Recipe
path, fraction, k_core, reviews = sys.argv[1:5]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
data, stats = build_from_raw(path, 'table', recipe=Recipe(
    3.0, float(fraction), int(k_core)), reviews_per_node=int(reviews),
    review='review')
seconds = time.perf_counter() - start
print('RESULT', json.dumps(dict(
    seconds=seconds, stats=stats, import_rss_mb=base,
    peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
'''

CHUNK = 1_000_000


def synthetic_chunk(gen: np.random.Generator, rows: int, total: int):
    import pyarrow as pa
    import pyarrow.compute as pc
    users, items = max(10, total // 50), max(10, total // 200)
    # Long tails: squares of uniforms favour small ids.
    u = np.floor(users * gen.random(rows) ** 2).astype(np.int64)
    i = np.floor(items * gen.random(rows) ** 3).astype(np.int64)
    rating = gen.choice([1.0, 2.0, 3.0, 4.0, 5.0], size=rows,
                        p=[0.08, 0.12, 0.2, 0.3, 0.3])
    t = 1_300_000_000 + gen.integers(0, 300_000_000, rows)

    def ids(prefix, codes):
        return pc.binary_join_element_wise(
            prefix, pc.cast(pa.array(codes), pa.string()), '')

    review = pc.binary_join_element_wise(
        'A review of ', ids('I', i), ' that runs to a few words.', '')
    return pa.table({'user': ids('U', u), 'item': ids('I', i),
                     'rating': rating, 'timestamp': t, 'review': review})


def write_file(path: str, fmt: str, rows: int, seed: int = 0) -> None:
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq
    gen = np.random.default_rng(seed)
    writer = None
    with open(path, 'wb') as f:
        for start in range(0, rows, CHUNK):
            table = synthetic_chunk(gen, min(CHUNK, rows - start), rows)
            if fmt == 'csv':
                writer = writer or pa_csv.CSVWriter(f, table.schema)
                writer.write_table(table)
            elif fmt == 'parquet':
                writer = writer or pq.ParquetWriter(f, table.schema)
                writer.write_table(table)
            else:
                cols = table.to_pydict()
                f.write(''.join(
                    json.dumps(dict(zip(cols, values))) + '\n'
                    for values in zip(*cols.values())).encode())
        if writer is not None:
            writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--rows', type=float, nargs='+',
                        default=[1e6, 1e7])
    parser.add_argument('--format', choices=['csv', 'jsonl', 'parquet'],
                        default='csv')
    parser.add_argument('--user-fraction', type=float, default=0.2)
    parser.add_argument('--k-core', type=int, default=10)
    parser.add_argument('--reviews-per-node', type=int, default=6)
    parser.add_argument('--out', default=None, metavar='OUT')
    parser.add_argument('--smoke', action='store_true',
                        help='20 000 rows, a 2-core, seconds')
    args = parser.parse_args()
    sizes = [20_000] if args.smoke else [int(r) for r in args.rows]
    if args.smoke:
        args.k_core = 2
    out = {'benchmark': 'bench_dataset_build', 'format': args.format,
           'user_fraction': args.user_fraction, 'k_core': args.k_core,
           'rows': {}}
    with tempfile.TemporaryDirectory() as tmp:
        for rows in sizes:
            path = osp.join(tmp, f'ratings_{rows}.{args.format}')
            start = time.perf_counter()
            write_file(path, args.format, rows)
            written = time.perf_counter() - start
            child = subprocess.run(
                [sys.executable, '-c', BUILD, path, str(args.user_fraction),
                 str(args.k_core), str(args.reviews_per_node)],
                env=child_env(), capture_output=True, text=True)
            lines = [line for line in child.stdout.splitlines()
                     if line.startswith('RESULT')]
            if child.returncode or not lines:
                raise RuntimeError(f'the build failed: {child.stderr[-2000:]}')
            result = json.loads(lines[0].split(' ', 1)[1])
            result['file_mb'] = os.path.getsize(path) / 2**20
            result['write_s'] = written
            out['rows'][str(rows)] = result
            stats = result['stats']
            print(f"{rows:>10} rows ({result['file_mb']:.0f} MB "
                  f"{args.format}): build {result['seconds']:.1f} s, peak "
                  f"RSS {result['peak_rss_mb']:.0f} MB (after imports "
                  f"{result['import_rss_mb']:.0f} MB); {stats['users']} "
                  f"users, {stats['items']} items, train/val/test "
                  f"{stats['train']}/{stats['val']}/{stats['test']}",
                  flush=True)
            os.remove(path)
    if len(sizes) > 1:
        a, b = (out['rows'][str(s)] for s in (sizes[0], sizes[-1]))
        scale = math.log(sizes[-1] / sizes[0])
        out['slopes'] = {
            key: math.log(b[key] / a[key]) / scale
            for key in ('seconds', 'peak_rss_mb')}
        print(f"log-log slopes vs rows: {out['slopes']}")
    print_result(out, args.out)


if __name__ == '__main__':
    main()
