r"""Start-up time: seconds from starting a fresh ``python`` process to
the end of an import, and from starting ``python -m rlmrec_pyg.cli.train
debug=fast`` (what ``rlmrec-train debug=fast`` runs) to its first epoch's
log line and to its exit, each in a fresh child process, interleaved round
by round; medians.

The imports timed are ``torch`` and ``torch_geometric`` (the floor every
PyG extension pays), ``rlmrec_pyg`` and ``rlmrec_pyg.train``. With
:obj:`--tree DIR` (repeatable) each case runs once per source tree
(``PYTHONPATH=DIR``), so an old and a new tree are timed side by side; the
default is this checkout. :obj:`--importtime` prints the slowest imports
of ``rlmrec_pyg.cli.train`` (``python -X importtime``) of each tree.

.. code-block:: bash

    python -m benchmarks.bench_startup --rounds 5 \
        --tree /path/to/old/tree --tree .
"""
import argparse
import os
import os.path as osp
import re
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

from benchmarks.common import ROOT, Samples, add_common_args, write_result

#: The imports timed, by case name.
IMPORTS = {'import torch': 'torch',
           'import torch_geometric': 'torch_geometric',
           'import rlmrec_pyg': 'rlmrec_pyg',
           'import rlmrec_pyg.train': 'rlmrec_pyg.train'}
#: The trainer's log line of a finished epoch.
EPOCH_LINE = re.compile(r'Epoch\s+0\b')


def child_env(tree: str, work: str, threads: int) -> Dict[str, str]:
    r"""The environment of a child process: :obj:`tree` first on the path,
    outputs and data under :obj:`work`, no hub access."""
    env = dict(os.environ)
    env.update(PYTHONPATH=tree, RLMREC_OUTPUT_DIR=osp.join(work, 'outputs'),
               RLMREC_DATA_DIR=osp.join(work, 'data'), HF_HUB_OFFLINE='1',
               OMP_NUM_THREADS=str(threads))
    return env


def time_import(module: str, env: Dict[str, str], cwd: str) -> float:
    r"""Wall seconds from the start of ``python -c "import <module>"`` to
    the line it prints once the import is done (the interpreter's exit,
    which tears the modules down again, is not counted)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, '-u', '-c', f'import {module}; print("imported")'],
        env=env, cwd=cwd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    wall = time.perf_counter() - start
    proc.stdout.read()
    if proc.wait() != 0 or line.strip() != 'imported':
        raise RuntimeError(f"'import {module}' failed")
    return wall


def time_debug_run(env: Dict[str, str], cwd: str) -> Tuple[float, float]:
    r"""Wall seconds from the start of ``python -m rlmrec_pyg.cli.train
    debug=fast`` to its first epoch's log line, and to its exit."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, '-u', '-m', 'rlmrec_pyg.cli.train', 'debug=fast'],
        env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    first, lines = None, []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if first is None and EPOCH_LINE.search(line):
            first = time.perf_counter() - start
    if proc.wait() != 0 or first is None:
        raise RuntimeError('debug=fast failed or logged no epoch:\n' +
                           ''.join(lines[-20:]))
    return first, time.perf_counter() - start


def slowest_imports(env: Dict[str, str], cwd: str, rows: int) -> str:
    r"""The :obj:`rows` slowest top-level imports of
    ``rlmrec_pyg.cli.train`` (cumulative microseconds)."""
    out = subprocess.run(
        [sys.executable, '-X', 'importtime', '-c',
         'import rlmrec_pyg.cli.train'], env=env, cwd=cwd,
        capture_output=True, text=True, check=True).stderr
    found = []
    for line in out.splitlines():
        parts = line.split('|')
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2][1:].rstrip()  # after the column's one space
            if len(name) - len(name.lstrip()) <= 2:  # it and its imports
                found.append((int(parts[1]), name.strip()))
    found.sort(reverse=True)
    return '\n'.join(f'   {us / 1e6:6.2f} s  {name}'
                     for us, name in found[:rows])


def main(argv: Optional[List[str]] = None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--tree', action='append', default=None,
                        help='a source tree to time (repeatable; default: '
                        'this checkout)')
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--importtime', action='store_true')
    args = add_common_args(parser).parse_args(argv)
    trees = [osp.abspath(t) for t in (args.tree or [ROOT])]
    imports = dict(IMPORTS)
    if args.smoke:
        args.rounds = 1
        imports = {'import rlmrec_pyg': 'rlmrec_pyg'}
    cases: Samples = {}
    with tempfile.TemporaryDirectory() as work:
        for r in range(args.rounds):
            for t, tree in enumerate(trees):
                env = child_env(tree, work, args.threads)
                tag = f'tree{t}/' if len(trees) > 1 else ''
                timed = {f'{tag}{name}': time_import(module, env, work)
                         for name, module in imports.items()}
                first, total = time_debug_run(env, work)
                timed[f'{tag}debug=fast to first epoch'] = first
                timed[f'{tag}debug=fast to exit'] = total
                for name, wall in timed.items():
                    cases.setdefault(name, {'wall_s': [], 'cpu_s': []})
                    cases[name]['wall_s'].append(wall)
                print(f'round {r} {tree}: ' + ', '.join(
                    f'{k} {v:.2f}s' for k, v in timed.items()), flush=True)
        if args.importtime:
            for tree in trees:
                print(f'slowest imports of rlmrec_pyg.cli.train, {tree}:')
                print(slowest_imports(child_env(tree, work, args.threads),
                                      work, 12))
    print(f'== medians over {args.rounds} rounds (wall s)')
    for t, tree in enumerate(trees):
        print(f'   tree{t}: {tree}')
    for name, s in cases.items():
        print(f"   {name:44s} {statistics.median(s['wall_s']):6.2f}")
    return write_result(args.json, 'bench_startup', vars(args), cases,
                        trees=trees)


if __name__ == '__main__':
    main()
