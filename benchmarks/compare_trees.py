r"""Runs :mod:`benchmarks.bench_ssl_backbones` and
:mod:`benchmarks.bench_alignment` of two source trees side by side and
prints per-case medians and new / old ratios.

The runs are interleaved, old, new, old, new, ... for :obj:`--rounds`
rounds, each in a fresh subprocess started in the tree with
:obj:`PYTHONPATH=<tree>` (so each tree's own :mod:`rlmrec_pyg` is timed;
checked once per tree). A tree with ``benchmarks/bench_alignment.py`` runs
``python -m benchmarks.<name> --json OUT``; an older tree (before the
suite) runs ``python benchmarks/bench_ssl_backbones.py`` and
``python benchmarks/alignment_speed.py`` as they are, and their printed
per-round lines are parsed. The same benchmark arguments go to both trees,
so the cases match one to one (a mismatch is an error naming the cases).

.. code-block:: bash

    RLMREC_DATA_CACHE=/path/to/data python -m benchmarks.compare_trees \
        --old /path/to/old-tree --new . --rounds 5
"""
import argparse
import json
import os
import os.path as osp
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

from rlmrec_pyg.io import json_save

#: Wall and CPU seconds of every timed round, per case.
Samples = Dict[str, Dict[str, List[float]]]

#: Benchmark name -> the script of an older tree.
OLD_SCRIPTS = {
    'bench_ssl_backbones': 'benchmarks/bench_ssl_backbones.py',
    'bench_alignment': 'benchmarks/alignment_speed.py',
}
#: Benchmark name -> its default arguments (one round per subprocess).
DEFAULT_ARGS = {
    'bench_ssl_backbones': '--rounds 1 --warmup 1 --threads 2',
    'bench_alignment': '--sem-channels 1536 384 --rounds 1 --threads 2',
}

# bench_ssl_backbones.py: "round 0 lightgcn_base_amazon: 0.41 s wall,
# 0.80 s cpu (loss 0.6931)"
SSL_LINE = re.compile(r'^round \d+ (\S+): ([0-9.]+) s wall, ([0-9.]+) s cpu')
# alignment_speed.py: "[d_s=384] round 0: base 0.32s/0.50cpu, con ..."
ALIGN_LINE = re.compile(r'^\[d_s=(\d+)\] round \d+: (.*)$')
ALIGN_ITEM = re.compile(r'^(\S+) ([0-9.]+)s/([0-9.]+)cpu$')


def is_new(tree: str) -> bool:
    r"""Whether :obj:`tree` has the suite (``benchmarks/common.py`` and
    ``bench_alignment.py``)."""
    return all(
        osp.isfile(osp.join(tree, 'benchmarks', f))
        for f in ('common.py', 'bench_alignment.py'))


def check_tree(tree: str, benchmarks: Sequence[str]) -> None:
    r"""Raises a :class:`ValueError` naming :obj:`tree` when it lacks a
    script of :obj:`benchmarks`."""
    if not osp.isdir(osp.join(tree, 'rlmrec_pyg')):
        raise ValueError(f"'{tree}' is not a source tree of rlmrec_pyg (no "
                         f"'rlmrec_pyg' folder in it)")
    if is_new(tree):
        return
    for name in benchmarks:
        if not osp.isfile(osp.join(tree, OLD_SCRIPTS[name])):
            raise ValueError(f"'{tree}' has neither the benchmark suite "
                             f"(benchmarks/bench_alignment.py) nor "
                             f"'{OLD_SCRIPTS[name]}'")


def environ(tree: str) -> Dict[str, str]:
    r"""The environment of a run of :obj:`tree`: :obj:`PYTHONPATH=tree`."""
    return dict(os.environ, PYTHONPATH=osp.abspath(tree))


def check_import(python: str, tree: str) -> None:
    r"""Raises a :class:`RuntimeError` when :mod:`rlmrec_pyg` imported in
    :obj:`tree`'s environment does not come from :obj:`tree`."""
    out = subprocess.run(
        [python, '-c', 'import rlmrec_pyg; print(rlmrec_pyg.__file__)'],
        cwd=tree, env=environ(tree), capture_output=True, text=True,
        check=True).stdout.strip()
    root = osp.realpath(tree) + os.sep
    if not osp.realpath(out).startswith(root):
        raise RuntimeError(f"With PYTHONPATH='{tree}', rlmrec_pyg is "
                           f"imported from '{out}', not from the tree")


def parse_old(name: str, stdout: str) -> Samples:
    r"""The per-round times printed by an older tree's script of
    :obj:`name`, under the cases of the suite's JSON."""
    out: Samples = {}

    def add(case: str, wall: str, cpu: str) -> None:
        s = out.setdefault(case, {'wall_s': [], 'cpu_s': []})
        s['wall_s'].append(float(wall))
        s['cpu_s'].append(float(cpu))

    for line in stdout.splitlines():
        if name == 'bench_ssl_backbones':
            m = SSL_LINE.match(line)
            if m:
                add(*m.groups())
        else:
            m = ALIGN_LINE.match(line)
            if m:
                for item in m.group(2).split(', '):
                    v = ALIGN_ITEM.match(item)
                    if v is None:
                        raise ValueError(f"Cannot parse '{item}' in the line "
                                         f"'{line}' of {name}")
                    add(f'd_s={m.group(1)}/{v.group(1)}', *v.groups()[1:])
    if not out:
        raise ValueError(f'No timing line in the output of {name}:\n'
                         f'{stdout[-2000:]}')
    return out


def run_once(python: str, tree: str, name: str, args: List[str],
             timeout: Optional[float] = None) -> Samples:
    r"""Runs benchmark :obj:`name` of :obj:`tree` once, in a fresh
    subprocess, and returns its samples."""
    with tempfile.TemporaryDirectory() as tmp:
        out_json = osp.join(tmp, 'result.json')
        if is_new(tree):
            cmd = [python, '-m', f'benchmarks.{name}', *args, '--json',
                   out_json]
        else:
            cmd = [python, OLD_SCRIPTS[name], *args]
        proc = subprocess.run(cmd, cwd=tree, env=environ(tree),
                              capture_output=True, text=True,
                              timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"'{' '.join(cmd)}' in '{tree}' exited with "
                               f"{proc.returncode}:\n{proc.stderr[-3000:]}")
        if is_new(tree):
            with open(out_json) as f:
                return json.load(f)['cases']
    return parse_old(name, proc.stdout)


def extend(into: Samples, samples: Samples) -> None:
    for case, s in samples.items():
        d = into.setdefault(case, {'wall_s': [], 'cpu_s': []})
        d['wall_s'].extend(s['wall_s'])
        d['cpu_s'].extend(s['cpu_s'])


def check_cases(name: str, old: Samples, new: Samples) -> None:
    r"""Raises a :class:`ValueError` when the trees' cases differ."""
    if set(old) != set(new):
        raise ValueError(f'{name}: the trees ran different cases (only old: '
                         f'{sorted(set(old) - set(new))}, only new: '
                         f'{sorted(set(new) - set(old))})')


def table(name: str, old: Samples, new: Samples) -> Tuple[str, Dict]:
    r"""The comparison of one benchmark: text and rows."""
    counts = [len(next(iter(s.values()))['wall_s']) for s in (old, new)]
    lines = [f'== {name}: medians over {counts[0]} old / {counts[1]} new '
             f'samples',
             f"{'case':36s} {'old wall':>9s} {'new wall':>9s} {'new/old':>8s}"
             f" {'old cpu':>9s} {'new cpu':>9s} {'new/old':>8s}"]
    rows = {}
    for case in old:
        row = {}
        for key in ('wall_s', 'cpu_s'):
            o = statistics.median(old[case][key])
            n = statistics.median(new[case][key])
            row[key] = dict(old=o, new=n, ratio=n / o if o > 0 else None)
        rows[case] = row
        w, c = row['wall_s'], row['cpu_s']

        def fmt(r: Optional[float]) -> str:
            return f'{r:8.3f}' if r is not None else f"{'-':>8s}"

        lines.append(f"{case:36s} {w['old']:9.3f} {w['new']:9.3f} "
                     f"{fmt(w['ratio'])} {c['old']:9.3f} {c['new']:9.3f} "
                     f"{fmt(c['ratio'])}")
    return '\n'.join(lines), rows


def compare(old_tree: str, new_tree: str, benchmarks: Sequence[str],
            args: Dict[str, List[str]], rounds: int, python: str,
            timeout: Optional[float] = None,
            log=print) -> Dict[str, Dict]:
    r"""Runs the benchmarks of both trees, interleaved, and returns per
    benchmark and case the old and new medians and their ratio."""
    for tree in (old_tree, new_tree):
        check_tree(tree, benchmarks)
        check_import(python, tree)
    result: Dict[str, Dict] = {}
    for name in benchmarks:
        samples: Dict[str, Samples] = {'old': {}, 'new': {}}
        for r in range(rounds):
            for side, tree in (('old', old_tree), ('new', new_tree)):
                extend(samples[side],
                       run_once(python, tree, name, args[name], timeout))
                log(f'{name} round {r} {side} done', flush=True)
        check_cases(name, samples['old'], samples['new'])
        text, rows = table(name, samples['old'], samples['new'])
        log(text, flush=True)
        result[name] = dict(rows=rows, samples=samples, args=args[name])
    return result


def main(argv: Optional[List[str]] = None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--old', required=True, help='the old tree')
    parser.add_argument('--new', default='.', help='the new tree')
    parser.add_argument('--rounds', type=int, default=5,
                        help='subprocesses per tree and benchmark')
    parser.add_argument('--benchmarks', nargs='+', default=list(OLD_SCRIPTS),
                        choices=list(OLD_SCRIPTS))
    parser.add_argument('--ssl-args',
                        default=DEFAULT_ARGS['bench_ssl_backbones'],
                        help='arguments of bench_ssl_backbones (both trees)')
    parser.add_argument('--alignment-args',
                        default=DEFAULT_ARGS['bench_alignment'],
                        help='arguments of bench_alignment / '
                        'alignment_speed (both trees)')
    parser.add_argument('--python', default=sys.executable)
    parser.add_argument('--timeout', type=float, default=None,
                        help='seconds per subprocess')
    parser.add_argument('--json', default=None, metavar='OUT')
    args = parser.parse_args(argv)
    if args.rounds <= 0:
        parser.error(f'--rounds must be positive (got {args.rounds})')
    bench_args = {
        'bench_ssl_backbones': shlex.split(args.ssl_args),
        'bench_alignment': shlex.split(args.alignment_args),
    }
    result = compare(args.old, args.new, args.benchmarks, bench_args,
                     args.rounds, args.python, args.timeout)
    if args.json is not None:
        json_save(dict(old=osp.abspath(args.old), new=osp.abspath(args.new),
                       rounds=args.rounds, benchmarks=result), args.json)
    return result


if __name__ == '__main__':
    main()
