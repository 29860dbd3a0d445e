r"""The benchmark suite cannot rot: every ``benchmarks/bench_*.py`` imports
and runs its :obj:`--smoke` setting (a tiny random graph, seconds) through
the library's current API and writes its JSON result; no file of
``benchmarks/`` edits :obj:`sys.path` or imports a private name of
:mod:`rlmrec_pyg`; the README lists every benchmark; and
:mod:`benchmarks.compare_trees` runs two trees interleaved and matches
their cases (on two stand-in trees whose scripts only print)."""
import ast
import glob
import importlib
import json
import math
import os
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
BENCH = osp.join(REPO, 'benchmarks')
# `python -m pytest` from the root has the root on the path; plain `pytest`
# has tests/ only.
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from benchmarks import compare_trees  # noqa: E402

MODULES = sorted(
    osp.basename(p)[:-3] for p in glob.glob(osp.join(BENCH, 'bench_*.py')))
BACKBONES = ['gccf', 'lightgcn', 'sgl', 'simgcl', 'dccf', 'autocf']
SSL_BACKBONES = ['sgl', 'simgcl', 'dccf', 'autocf']


def test_the_suite_is_there():
    # Catches: a benchmark renamed out of the naming scheme or deleted.
    assert {'bench_ssl_backbones', 'bench_alignment', 'bench_engine',
            'bench_sampler'} <= set(MODULES)


def private_imports(path):
    r"""The names a file imports from :mod:`rlmrec_pyg` whose module path
    or name has a part starting with an underscore."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and (
                node.module.split('.')[0] == 'rlmrec_pyg'):
            parts = node.module.split('.') + [a.name for a in node.names]
            found += [p for p in parts if p.startswith('_')]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split('.')
                if parts[0] == 'rlmrec_pyg':
                    found += [p for p in parts if p.startswith('_')]
    return found


@pytest.mark.parametrize('path', sorted(glob.glob(osp.join(BENCH, '*.py'))),
                         ids=osp.basename)
def test_no_sys_path_and_no_private_import(path):
    # Catches: `sys.path.insert(...)` or `from rlmrec_pyg.nn.alignment_base
    # import _Projector` (or `from rlmrec_pyg.train.run import
    # _build_model`) added to any file of benchmarks/.
    with open(path) as f:
        assert 'sys.path' not in f.read()
    assert private_imports(path) == []


def test_the_guard_sees_private_imports(tmp_path):
    # The guard itself: it must flag the forms the old scripts used.
    path = tmp_path / 'x.py'
    path.write_text('from rlmrec_pyg.nn.alignment_base import _Projector\n'
                    'import rlmrec_pyg._private\n'
                    'from rlmrec_pyg.nn import info_nce\n')
    assert private_imports(str(path)) == ['_Projector', '_private']


def test_readme_lists_every_benchmark():
    # Catches: a benchmark added or renamed without its README row.
    with open(osp.join(BENCH, 'README.md')) as f:
        readme = f.read()
    for name in MODULES + ['compare_trees']:
        assert f'python -m benchmarks.{name}' in readme, name


def check_cases(result, cases):
    assert set(result['cases']) == set(cases)
    for case, samples in result['cases'].items():
        assert samples['wall_s'], case
        for value in samples['wall_s'] + samples['cpu_s']:
            assert math.isfinite(value) and value >= 0, (case, value)


def smoke(name, tmp_path, *extra):
    module = importlib.import_module(f'benchmarks.{name}')
    out = tmp_path / f'{name}.json'
    result = module.main(['--smoke', '--threads', '1', '--json', str(out),
                          *extra])
    with open(out) as f:
        saved = json.load(f)
    assert saved == json.loads(json.dumps(result))
    assert saved['benchmark'] == name
    return saved


def test_bench_ssl_backbones_smoke(tmp_path):
    # Catches: a config's alignment wrapper or a backbone's SSL term lost
    # in the port (no 'align' / 'ssl' term), a backbone or variant dropped,
    # the device or the GPU's name missing from the settings.
    result = smoke('bench_ssl_backbones', tmp_path, '--device', 'cpu')
    assert result['settings']['device'] == 'cpu'
    assert result['settings']['gpu'] is None
    names = [f'{b}_{v}_amazon' for b in BACKBONES
             for v in ('base', 'contrastive', 'generative')]
    check_cases(result, names)
    for name in names:
        terms = result['terms'][name]
        assert {'loss', 'rec', 'reg'} <= set(terms), name
        assert ('align' in terms) == ('_base_' not in name), name
        assert ('ssl' in terms) == (name.split('_')[0] in SSL_BACKBONES)
        assert all(math.isfinite(v) for v in terms.values()), name


def test_bench_ssl_backbones_synchronizes_cuda_epochs(monkeypatch):
    # Catches: a CUDA epoch timed before its kernels finish (mutation
    # tried: `torch.cuda.synchronize()` removed from `synchronized`), the
    # CPU path wrapped (slowed) too.
    import torch
    from benchmarks.bench_ssl_backbones import synchronized
    calls = []
    monkeypatch.setattr(torch.cuda, 'synchronize',
                        lambda: calls.append('sync'))

    def epoch():
        calls.append('epoch')
    assert synchronized(epoch, 'cpu') is epoch
    synchronized(epoch, 'cuda')()
    assert calls == ['epoch', 'sync']


def test_bench_ssl_backbones_refuses_cuda_without_a_gpu(capsys):
    # Catches: `--device cuda` on a machine without one failing deep in
    # the first epoch (or loading Amazon-book first) instead of one error.
    import torch
    if torch.cuda.is_available():
        pytest.skip('this machine has a CUDA device')
    module = importlib.import_module('benchmarks.bench_ssl_backbones')
    with pytest.raises(SystemExit) as e:
        module.main(['--smoke', '--device', 'cuda'])
    assert e.value.code == 2
    assert ('--device cuda: this machine has no CUDA device '
            '(torch.cuda.is_available() is False)') in capsys.readouterr().err


def test_bench_alignment_smoke(tmp_path):
    # Catches: a variant that trains without its alignment term, or the
    # official-cost Con no longer giving Con's loss its own way.
    result = smoke('bench_alignment', tmp_path, '--variants', 'base', 'con',
                   'con_official_cost', 'gen_bf16')
    cases = ['base', 'con', 'con_official_cost', 'gen_bf16']
    check_cases(result, [f'd_s=16/{v}' for v in cases])
    for v in cases:
        terms = result['terms'][f'd_s=16/{v}']
        assert ('align' in terms) == (v != 'base'), v
        assert math.isfinite(terms['loss'])


def test_official_cost_con_is_cons_loss():
    # Catches: OfficialCostCon computing another loss than Con (it must be
    # a cost reference of the same value).
    import torch
    from benchmarks.common import OfficialCostCon
    from rlmrec_pyg.nn import ContrastiveAlignment
    torch.manual_seed(0)
    negatives = {'user': 'all', 'item': 'in_batch'}
    ours = ContrastiveAlignment(torch.nn.Identity(), 8, 4, 0.2, negatives)
    official = OfficialCostCon(torch.nn.Identity(), 8, 4, 0.2, negatives)
    official.load_state_dict(ours.state_dict())
    z = {'user': torch.randn(10, 4), 'item': torch.randn(12, 4)}
    sem = {'user': torch.randn(10, 8), 'item': torch.randn(12, 8)}
    index = {'user': [torch.tensor([0, 3, 3, 7])],
             'item': [torch.tensor([1, 1, 5, 11]),
                      torch.tensor([2, 4, 4, 0])]}
    expected = ours.alignment_loss(z, sem, index)
    assert torch.allclose(official.alignment_loss(z, sem, index), expected,
                          atol=1e-6)


@pytest.mark.parametrize('name', ['bench_alignment_step', 'bench_nce',
                                  'bench_projector_bf16', 'bench_sampler'])
def test_micro_benchmark_smoke(name, tmp_path):
    # Catches: a benchmark that no longer runs on the current API or
    # writes no (or a non-finite) timing.
    result = smoke(name, tmp_path)
    assert result['cases']
    check_cases(result, result['cases'])


def test_bench_alignment_floor_smoke(tmp_path):
    # Catches: a variant's epoch, GEMM floor or complete floor no longer
    # timed, or its ratios to the floor not reported.
    result = smoke('bench_alignment_floor', tmp_path)
    variants = ['con', 'con_in_batch', 'gen']
    check_cases(result, [f'd_s=16/epoch/{v}' for v in
                         ['base', 'base_l2'] + variants]
                + [f'd_s=16/{k}_floor/{v}' for v in variants
                   for k in ('gemm', 'complete')])
    summary = result['summary']['d_s=16']
    for v in variants:
        for key in ('gemm_floor', 'complete_floor', 'x_floor_epoch',
                    'x_complete_floor'):
            assert math.isfinite(summary[f'{v}/{key}']), (v, key)
            assert summary[f'{v}/{key}'] > 0, (v, key)


def test_bench_startup_smoke(tmp_path):
    # Catches: `rlmrec-train debug=fast` no longer reaching (or logging)
    # its first epoch, an import case dropped.
    result = smoke('bench_startup', tmp_path)
    check_cases(result, ['import rlmrec_pyg', 'debug=fast to first epoch',
                         'debug=fast to exit'])
    cases = result['cases']
    first = cases['debug=fast to first epoch']['wall_s'][0]
    assert first <= cases['debug=fast to exit']['wall_s'][0]


def test_bench_engine_smoke(tmp_path):
    # Catches: a model spec that no longer builds or trains (the PyG
    # encoder included), evaluation that returns no Recall@20.
    result = smoke('bench_engine', tmp_path, '--in-process')
    models = ['lightgcn', 'gccf', 'pyg_lightgcn']
    check_cases(result, [f'{m}/{w}' for m in models
                         for w in ('epoch', 'eval')])
    for row in result['runs']:
        assert 0 <= row['test_recall20'] <= 1


def test_bench_scaling_smoke(tmp_path):
    # Catches: a case that no longer trains at some size (each runs in its
    # own process), a missing peak RSS or slope.
    result = smoke('bench_scaling', tmp_path)
    check_cases(result, [f'{c}@{n}' for c in ('lightgcn_con', 'sage_con')
                         for n in (2000, 4000)])
    for case, by_size in result['rows'].items():
        for row in by_size.values():
            assert row['peak_rss_mb'] > 0 and row['eval_s'] >= 0, case
            # a fixed number of steps per epoch (smoke: 4 full, 8 sampled)
            steps = 8 if case.startswith('sage') else 4
            assert row['batch'] == -(-row['train'] // steps), case
        assert all(math.isfinite(v) for v in result['slopes'][case].values())


def test_bench_scripts_all_smoked():
    # Every bench_*.py is covered by one of the smoke tests above.
    covered = {'bench_ssl_backbones', 'bench_alignment', 'bench_engine',
               'bench_alignment_step', 'bench_nce', 'bench_projector_bf16',
               'bench_sampler', 'bench_alignment_floor', 'bench_scaling',
               'bench_profiling_scale', 'bench_batch_scale',
               'bench_vectors_scale', 'bench_dataset_build',
               'bench_startup'}
    assert set(MODULES) == covered


# The printed lines of the old tree's scripts (benchmarks/
# bench_ssl_backbones.py and benchmarks/alignment_speed.py before the suite).
OLD_SSL = """torch 2.13.0, threads 2, users 11000, items 9332, train 1, d_s 64
round 0 lightgcn_base_amazon: 0.41 s wall, 0.80 s cpu (loss 0.6931)
round 0 lightgcn_contrastive_amazon: 16.74 s wall, 30.10 s cpu (loss 1.2)
== median wall s/epoch over 1 rounds (base / contrastive)
lightgcn     0.41 /  16.74
"""
OLD_ALIGN = """torch 2.13.0, threads 2, cpu 2, users 11000, items 9332, train 1
[d_s=384] round 0: base 0.32s/0.50cpu, con_bf16 4.48s/8.90cpu
[d_s=384] round 1: base 0.30s/0.45cpu, con_bf16 4.40s/8.70cpu
== d_s=384: medians over 2 rounds; wall s/epoch and CPU s/epoch
   base               wall    0.31 (1.00 x base)   cpu    0.47 (1.00 x base)
"""


def test_parse_old_output():
    # Catches: a regex that drops a case or swaps wall and CPU seconds.
    assert compare_trees.parse_old('bench_ssl_backbones', OLD_SSL) == {
        'lightgcn_base_amazon': {'wall_s': [0.41], 'cpu_s': [0.80]},
        'lightgcn_contrastive_amazon': {'wall_s': [16.74], 'cpu_s': [30.1]},
    }
    assert compare_trees.parse_old('bench_alignment', OLD_ALIGN) == {
        'd_s=384/base': {'wall_s': [0.32, 0.30], 'cpu_s': [0.50, 0.45]},
        'd_s=384/con_bf16': {'wall_s': [4.48, 4.40], 'cpu_s': [8.90, 8.70]},
    }
    with pytest.raises(ValueError, match='No timing line'):
        compare_trees.parse_old('bench_alignment', 'torch 2.13\n')


# Stand-in trees: each script records which tree ran it (the order of the
# runs) and prints or writes fixed times.
FAKE_OLD = """import os, sys
import rlmrec_pyg
assert rlmrec_pyg.TREE == 'old'
with open(os.environ['ORDER_LOG'], 'a') as f:
    f.write('old\\n')
print('[d_s=8] round 0: base 1.00s/2.00cpu, con 3.00s/6.00cpu')
"""
FAKE_NEW = """import json, os, sys
import rlmrec_pyg
assert rlmrec_pyg.TREE == 'new'
with open(os.environ['ORDER_LOG'], 'a') as f:
    f.write('new\\n')
out = sys.argv[sys.argv.index('--json') + 1]
cases = {'d_s=8/base': {'wall_s': [0.5], 'cpu_s': [1.0]},
         'd_s=8/%s': {'wall_s': [6.0], 'cpu_s': [6.0]}}
with open(out, 'w') as f:
    json.dump({'cases': cases}, f)
"""


def fake_trees(tmp_path, new_case='con'):
    old, new = tmp_path / 'old', tmp_path / 'new'
    for tree, tag in ((old, 'old'), (new, 'new')):
        (tree / 'rlmrec_pyg').mkdir(parents=True)
        (tree / 'rlmrec_pyg' / '__init__.py').write_text(f"TREE = '{tag}'\n")
        (tree / 'benchmarks').mkdir()
    (old / 'benchmarks' / 'alignment_speed.py').write_text(FAKE_OLD)
    (new / 'benchmarks' / '__init__.py').write_text('')
    (new / 'benchmarks' / 'common.py').write_text('')
    (new / 'benchmarks' / 'bench_alignment.py').write_text(
        FAKE_NEW % new_case)
    return str(old), str(new)


def test_compare_trees_interleaves_and_reports_ratios(tmp_path, monkeypatch):
    # Catches: runs not interleaved old/new, the new tree run without its
    # own PYTHONPATH (it asserts its rlmrec_pyg), the old tree's output not
    # parsed, ratios computed old/new instead of new/old.
    old, new = fake_trees(tmp_path)
    order = tmp_path / 'order.log'
    monkeypatch.setenv('ORDER_LOG', str(order))
    result = compare_trees.main([
        '--old', old, '--new', new, '--rounds', '2', '--benchmarks',
        'bench_alignment', '--alignment-args', '--rounds 1', '--json',
        str(tmp_path / 'cmp.json')
    ])
    assert order.read_text().split() == ['old', 'new', 'old', 'new']
    rows = result['bench_alignment']['rows']
    assert rows['d_s=8/base']['wall_s'] == dict(old=1.0, new=0.5,
                                                ratio=0.5)
    assert rows['d_s=8/con']['cpu_s'] == dict(old=6.0, new=6.0, ratio=1.0)
    assert result['bench_alignment']['samples']['old']['d_s=8/con'][
        'wall_s'] == [3.0, 3.0]
    with open(tmp_path / 'cmp.json') as f:
        assert json.load(f)['benchmarks']['bench_alignment']['rows'] == rows


def test_compare_trees_refuses_unmatched_cases(tmp_path, monkeypatch):
    # Catches: trees that ran different cases compared anyway.
    old, new = fake_trees(tmp_path, new_case='gen')
    monkeypatch.setenv('ORDER_LOG', str(tmp_path / 'order.log'))
    with pytest.raises(ValueError, match=r"only old: \['d_s=8/con'\], only "
                       r"new: \['d_s=8/gen'\]"):
        compare_trees.main(['--old', old, '--new', new, '--rounds', '1',
                            '--benchmarks', 'bench_alignment'])


def test_compare_trees_refuses_a_tree_without_the_scripts(tmp_path):
    (tmp_path / 'rlmrec_pyg').mkdir()
    with pytest.raises(ValueError, match='alignment_speed.py'):
        compare_trees.check_tree(str(tmp_path), ['bench_alignment'])


def test_unknown_cases_are_refused():
    # Catches: a misspelt variant or model silently timed as another one
    # ('conx' was taken for Con by its prefix).
    from benchmarks.bench_alignment import build_encoder
    from benchmarks.bench_engine import build
    with pytest.raises(ValueError, match="Unknown variant 'conx' in "
                       "'--variants'"):
        build_encoder('conx', 16)
    with pytest.raises(ValueError, match="Unknown model 'ngcf' in "
                       "'--models'"):
        build('ngcf', None)


def run_module(name, tmp_path, *args):
    out = tmp_path / f'{name}.json'
    proc = subprocess.run(
        [sys.executable, '-m', f'benchmarks.{name}', *args, '--out',
         str(out)], cwd=REPO, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, HF_HUB_OFFLINE='1'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out) as f:
        return json.load(f)


def test_bench_profiling_scale_small(tmp_path):
    # Catches: a kill/resume protocol or a server count that no longer
    # holds (cached nodes asked again, answers not stored, wrong answers).
    out = run_module('bench_profiling_scale', tmp_path, '--num-items', '400',
                     '--kill-at', '150', '--concurrency', '8', '--check',
                     '100')
    assert out['resume']['counts']['nodes'] == 400
    assert out['server']['cached_nodes_asked_again'] == 0
    assert out['server']['nodes_without_answer'] == 0
    assert out['server']['sent_but_not_stored'] <= 8  # one kill's flight
    assert out['sample_wrong'] == 0 and out['sample_checked'] == 100


def test_bench_batch_scale_small(tmp_path):
    # Catches: a batch submitted twice after the kill, the cap passed, or
    # answers lost.
    out = run_module('bench_batch_scale', tmp_path, '--num-items', '300',
                     '--max-enqueued', '100', '--kill-after', '1')
    server = out['server']
    assert server['max_enqueued'] <= 100
    assert server['prompts_answered_more_than_once'] == 0
    assert server['batch_lines'] == 300 + server['failed_lines']
    assert out['answers_stored'] == 300


def test_bench_vectors_scale_small(tmp_path):
    # Catches: a resumed writer that encodes more (or less) than the
    # chunks not done, or training that cannot use the mapped stores.
    out = run_module('bench_vectors_scale', tmp_path, '--num-items', '3000',
                     '--num-users', '400', '--num-interactions', '6000',
                     '--minilm-texts', '300', '--chunk', '64',
                     '--store-chunk', '512', '--kill-after', '2')
    for stage in ('minilm', 'store'):
        assert out[stage]['resumed_encoded'] == \
            out[stage]['texts_left_at_kill'] > 0, stage
    assert out['minilm']['chunks_done_at_kill'] == 2
    assert out['train']['sem_dtype'] == 'torch.float16'
    assert out['train']['epoch_seconds'] > 0


def test_bench_dataset_build_small(tmp_path):
    # Catches: a reader that drops or adds records in one of the formats
    # (the same synthetic ratings must give the same dataset in each).
    pytest.importorskip('pyarrow')
    stats = [run_module('bench_dataset_build', tmp_path, '--smoke',
                        '--format', fmt)['rows']['20000']['stats']
             for fmt in ('csv', 'jsonl', 'parquet')]
    assert stats[0] == stats[1] == stats[2]
    assert stats[0]['records'] == 20000 and stats[0]['train'] > 0
