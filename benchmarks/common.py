r"""Shared helpers of the benchmarks: loading Amazon-book (or a tiny random
graph for :obj:`--smoke`), random stand-in semantic vectors, timing,
side-by-side ratios and JSON results.

Every benchmark runs from the repository root as a module, *e.g.*,
``python -m benchmarks.bench_sampler``, and writes with :obj:`--json OUT`
one machine-readable result (:func:`write_result`)::

    {"benchmark": "bench_sampler", "settings": {...}, "env": {...},
     "cases": {"<case>": {"wall_s": [...], "cpu_s": [...]}, ...}}

with one sample per timed round in every list (:mod:`benchmarks.compare_trees`
reads :obj:`"cases"`).
"""
import argparse
import importlib.util
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import HeteroData

from rlmrec_pyg.data import BPRSampler, RLMRecDataset
from rlmrec_pyg.io import json_save
from rlmrec_pyg.nn import ContrastiveAlignment, info_nce
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.typing import EDGE, ITEM, USER

# PyTorch's notice on every CSR adjacency (the library's default backend).
warnings.filterwarnings('ignore', '.*Sparse CSR tensor support.*')

#: The repository root (the benchmarks' children run with it on their path).
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: The official batch size and embedding width (amazon ymls).
BATCH, DIM = 4096, 32
#: Wall and CPU seconds of every timed round, per case.
Samples = Dict[str, Dict[str, List[float]]]


def add_common_args(parser: argparse.ArgumentParser,
                    threads: int = 2) -> argparse.ArgumentParser:
    r"""Adds :obj:`--threads`, :obj:`--json OUT` and :obj:`--smoke` (a
    tiny random graph and the smallest settings, seconds: for the tests)."""
    parser.add_argument('--threads', type=int, default=threads,
                        help='torch intra-op threads')
    parser.add_argument('--json', default=None, metavar='OUT',
                        help='also write the result as JSON to OUT')
    parser.add_argument('--smoke', action='store_true',
                        help='tiny random graph, smallest settings')
    return parser


def load_amazon(root: Optional[str] = None) -> HeteroData:
    r"""Returns RLMRec's Amazon-book split through
    :class:`~rlmrec_pyg.data.RLMRecDataset`: its raw files are copied from
    :obj:`$RLMREC_DATA_CACHE` (else downloaded) into :obj:`root`, a
    temporary folder removed afterwards when :obj:`None`."""
    if root is not None:
        return RLMRecDataset(root, 'amazon')[0]
    with tempfile.TemporaryDirectory() as tmp:
        return RLMRecDataset(tmp, 'amazon')[0]


def load_smoke(seed: int = 0) -> HeteroData:
    r"""Returns a small random graph (200 users, 300 items) for
    :obj:`--smoke` runs; it has no semantic vectors."""
    return get_random_rec_data(200, 300, 4000, sem_channels=0,
                               with_text=False, seed=seed)


def load_data(smoke: bool) -> HeteroData:
    r"""The graph of a benchmark: :func:`load_smoke` or
    :func:`load_amazon`."""
    return load_smoke() if smoke else load_amazon()


def stand_in_vectors(data: HeteroData, channels: int,
                     generator: Optional[torch.Generator] = None
                     ) -> Dict[str, Tensor]:
    r"""Random unit-norm rows of width :obj:`channels` for users and items:
    stand-ins for text vectors (the official ada-002 vectors are not
    public); their cost is the same."""
    return {
        nt: F.normalize(
            torch.randn(data[nt].num_nodes, channels, generator=generator),
            dim=-1)
        for nt in (USER, ITEM)
    }


def attach_stand_in(data: HeteroData, channels: int,
                    generator: Optional[torch.Generator] = None
                    ) -> HeteroData:
    r"""Sets :obj:`data[nt].sem_emb` to :func:`stand_in_vectors`."""
    for nt, sem in stand_in_vectors(data, channels, generator).items():
        data[nt].sem_emb = sem
    return data


def sampler_of(data: HeteroData) -> BPRSampler:
    r"""The BPR sampler of the training interactions of :obj:`data`."""
    return BPRSampler(data[EDGE].edge_index, data[ITEM].num_nodes)


def clock() -> Tuple[float, float]:
    r"""Returns (wall seconds, CPU seconds of this process) now."""
    return time.perf_counter(), time.process_time()


def since(start: Tuple[float, float]) -> Tuple[float, float]:
    r"""Wall and CPU seconds elapsed since :obj:`start` (:func:`clock`)."""
    wall, cpu = clock()
    return wall - start[0], cpu - start[1]


def median_time(fn: Callable[[], Any], repeats: int,
                warmup: int = 1) -> float:
    r"""Median wall seconds of :obj:`fn` over :obj:`repeats` calls, after
    :obj:`warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def side_by_side(cases: Mapping[str, Callable[[], Any]], rounds: int,
                 warmup: int = 1,
                 report: Optional[Callable[[int, str, float, float],
                                           None]] = None) -> Samples:
    r"""Times every case once per round, interleaved (round 1: every case,
    round 2: every case, ...), so that machine noise hits all of them
    alike. Returns the wall and CPU seconds of every timed round per case;
    :obj:`report(round, case, wall, cpu)` is called after each."""
    out: Samples = {name: {'wall_s': [], 'cpu_s': []} for name in cases}
    for r in range(-warmup, rounds):  # r < 0: warm-up, untimed
        for name, fn in cases.items():
            start = clock()
            fn()
            wall, cpu = since(start)
            if r >= 0:
                out[name]['wall_s'].append(wall)
                out[name]['cpu_s'].append(cpu)
                if report is not None:
                    report(r, name, wall, cpu)
    return out


def medians(samples: Samples, key: str = 'wall_s') -> Dict[str, float]:
    r"""The median of :obj:`key` per case."""
    return {name: statistics.median(s[key]) for name, s in samples.items()}


def ratios(values: Mapping[str, float], base: str) -> Dict[str, float]:
    r"""Every value divided by :obj:`values[base]`."""
    return {name: v / values[base] for name, v in values.items()}


def environment() -> Dict[str, Any]:
    r"""Torch version, threads and CPU count (recorded with every
    result)."""
    return dict(torch=torch.__version__, threads=torch.get_num_threads(),
                cpu_count=os.cpu_count())


def describe(data: HeteroData) -> str:
    r"""A one-line summary of the machine and the graph."""
    env = environment()
    return (f"torch {env['torch']}, threads {env['threads']}, cpu "
            f"{env['cpu_count']}, users {data[USER].num_nodes}, items "
            f"{data[ITEM].num_nodes}, train {data[EDGE].edge_index.size(1)}")


def fake_openai_server() -> Any:
    r"""The tests' fake OpenAI-compatible server module
    (``tests/fake_openai_server.py``, loaded from its file: tests/ is no
    package)."""
    spec = importlib.util.spec_from_file_location(
        'fake_openai_server', osp.join(ROOT, 'tests', 'fake_openai_server.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def profiling_child(options: str) -> str:
    r"""The code of a process that profiles the items of a synthetic
    catalogue (``sys.argv[1:5]``: server URL, cache folder, number of
    items, one integer option) with an :class:`~rlmrec_pyg.profiles.
    OpenAIProfiler` given :obj:`options` (keyword arguments in Python; the
    integer option is :obj:`option`), printing ``START <time>`` before and
    ``RESULT <json>`` (counts, end time, peak RSS) after."""
    return (
        "import json, resource, sys, time\n"
        "from rlmrec_pyg.data.synthetic import synthetic_catalogue\n"
        "from rlmrec_pyg.profiles import OpenAIProfiler\n"
        "url, cache, num_items, option = sys.argv[1:5]\n"
        "option = int(option)\n"
        "data = synthetic_catalogue(2000, int(num_items), 2 * int(num_items),"
        " with_text=True)\n"
        "profiler = OpenAIProfiler(domain='movie', base_url=url, "
        f"api_key='sk-bench', cache_dir=cache, {options})\n"
        "print('START', time.time(), flush=True)\n"
        "counts = profiler.profile(data, 'item')\n"
        "print('RESULT', json.dumps(dict(counts=counts, end=time.time(), "
        "max_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / "
        "1024)), flush=True)\n")


def start_child(code: str, *args: Any) -> 'subprocess.Popen[str]':
    r"""Starts :obj:`python -c code args...` in :func:`child_env`, its
    standard output a text pipe, its standard error discarded."""
    return subprocess.Popen([sys.executable, '-c', code, *map(str, args)],
                            env=child_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)


def child_result(child: 'subprocess.Popen[str]') -> Dict[str, Any]:
    r"""Waits for :obj:`child` and returns the JSON of its ``RESULT``
    line."""
    result = None
    for line in child.stdout or []:
        if line.startswith('RESULT'):
            result = json.loads(line.split(' ', 1)[1])
    child.wait()
    if result is None:
        raise RuntimeError(f'the child process printed no result (exit '
                           f'code {child.returncode})')
    return result


def child_env(**extra: str) -> Dict[str, str]:
    r"""The environment of a benchmark's child process: the repository on
    its path, one thread, no progress bars, plus :obj:`extra`."""
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1',
               TQDM_DISABLE='1', HF_HUB_OFFLINE='1')
    env.update(extra)
    return env


def print_result(out: Mapping[str, Any], path: Optional[str]) -> None:
    r"""Prints :obj:`out` as JSON and writes it to :obj:`path` (when
    given), crash-safely."""
    print(json.dumps(out, indent=1))
    if path:
        json_save(dict(out), path, indent=1)


def write_result(path: Optional[str], benchmark: str,
                 settings: Mapping[str, Any], cases: Samples,
                 **extra: Any) -> Dict[str, Any]:
    r"""Returns the result of a benchmark and writes it as JSON to
    :obj:`path` (crash-safely; nothing written when :obj:`None`)."""
    result = dict(benchmark=benchmark, settings=dict(settings),
                  env=environment(), cases=cases, **extra)
    if path is not None:
        json_save(result, path)
    return result


class OfficialCostCon(ContrastiveAlignment):
    r"""The loss of :class:`~rlmrec_pyg.nn.ContrastiveAlignment`, computed
    the official way (``*_plus.py``): every batch projects **all** user and
    item profiles, then indexes them, and a repeated node is scored once
    per occurrence. A side-by-side cost reference, not a model to train."""
    def alignment_loss(self, z_dict: Dict[str, Tensor],
                       sem_dict: Dict[str, Tensor],
                       index_dict: Dict[str, Any]) -> Tensor:
        losses = []
        for nt, groups in index_dict.items():
            groups = [groups] if isinstance(groups, Tensor) else groups
            z = z_dict[nt]
            key = self.projector(sem_dict[nt].to(z.dtype))  # all rows
            for i in groups:
                if self.negatives_of(nt) == 'all':
                    losses.append(info_nce(z[i], key, i, self.temperature))
                else:
                    losses.append(
                        info_nce(z[i], key[i], None, self.temperature))
        return torch.stack(losses).sum()
