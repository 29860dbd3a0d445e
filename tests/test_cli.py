r"""The command-line package: every console script starts from a folder
outside the checkout, only :mod:`rlmrec_pyg.cli` imports Hydra, and the
package's modules import each other without cycles."""
import ast
import configparser
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / 'rlmrec_pyg'


def console_scripts() -> Dict[str, str]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / 'setup.cfg')
    lines = cfg['options.entry_points']['console_scripts'].strip()
    return dict(line.split(' = ') for line in lines.splitlines())


def fake_multirun(folder: Path) -> None:
    # Two seeds of one setting, as Hydra and run(cfg) leave them.
    for seed in (1, 2):
        job = folder / str(seed)
        (job / '.hydra').mkdir(parents=True)
        (job / '.hydra' / 'overrides.yaml').write_text(
            f'- seed={seed}\n- alignment=contrastive\n')
        metrics = {'recall@20': 0.1 * seed, 'ndcg@20': 0.05 * seed}
        (job / 'metrics.json').write_text(json.dumps(
            dict(test=metrics, val=metrics)))


# Each script's smallest job, run in an empty folder outside the checkout.
JOBS = {
    'rlmrec-train': (['debug=fast'], 'Result:'),
    'rlmrec-vectors': (['dataset=fake'], 'Vectors written to'),
    'rlmrec-report': (['runs'],
                      '| 2 | 0.1500 ± 0.0707 | 0.0750 ± 0.0354 |'),
    'rlmrec-data': (['movielens', '--root', 'data'], 'users'),
    # On the run folder of 'rlmrec-train debug=fast hydra.run.dir=run'.
    'rlmrec-recommend': (['run', '--k', '5'], 'recommendations of 60 users'),
}


def test_every_console_script_has_a_job():
    assert set(console_scripts()) == set(JOBS)


@pytest.mark.parametrize('name', sorted(JOBS))
def test_console_script_runs_outside_the_checkout(name, tmp_path,
                                                  data_cache):
    script = shutil.which(name, path=osp.dirname(sys.executable))
    assert script, (f"'{name}' is not installed beside {sys.executable}: "
                    f"install the package with 'pip install -e .'")
    if name == 'rlmrec-report':
        fake_multirun(tmp_path / 'runs')
    env = dict(os.environ, RLMREC_CACHE_DIR=str(tmp_path / 'cache'),
               RLMREC_DATA_CACHE=str(data_cache), HF_HUB_OFFLINE='1')
    env.pop('PYTHONPATH', None)  # the installed package, as a user has it
    args, expected = JOBS[name]
    if name == 'rlmrec-recommend':
        train = shutil.which('rlmrec-train', path=osp.dirname(sys.executable))
        subprocess.run([train, 'debug=fast', 'hydra.run.dir=run'],
                       cwd=tmp_path, env=env, check=True, capture_output=True)
    out = subprocess.run([script, *args], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    printed = out.stdout + out.stderr
    assert out.returncode == 0, printed[-3000:]
    assert expected in printed, printed[-3000:]
    assert 'Primary config' not in printed
    if name == 'rlmrec-train':  # the run folder is under the cwd
        assert list(tmp_path.glob('outputs/runs/*/metrics.json'))


def imports(path: Path) -> List[str]:
    r"""Every module name imported anywhere in :obj:`path` (function-level
    imports included)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.append(node.module or '')
    return names


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def test_only_the_cli_package_imports_hydra():
    # Mutation caught: an 'import hydra' / 'from omegaconf import ...'
    # anywhere in the library outside rlmrec_pyg/cli.
    offenders = [
        f'{path.relative_to(ROOT)}: {name}'
        for path in PACKAGE.rglob('*.py')
        if 'cli' not in path.relative_to(PACKAGE).parts[:1]
        for name in imports(path)
        if name.split('.')[0] in ('hydra', 'omegaconf')
    ]
    assert not offenders, offenders
    assert any(name.startswith('hydra') for path in
               (PACKAGE / 'cli').rglob('*.py') for name in imports(path))


def test_no_import_cycle_between_modules():
    # Module-to-module imports of the library (a package's __init__ only
    # re-exports its own modules and is left out) form no cycle, e.g.
    # profiles/batch.py <-> profiles/llm.py.
    modules = {module_name(p): p for p in PACKAGE.rglob('*.py')
               if p.name != '__init__.py'}
    graph: Dict[str, Set[str]] = {
        name: {n for n in imports(path) if n in modules and n != name}
        for name, path in modules.items()
    }
    state: Dict[str, int] = {}

    def visit(name: str, trail: List[str]) -> None:
        state[name] = 1
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                cycle = trail[trail.index(dep):] + [dep]
                raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
            if not state.get(dep):
                visit(dep, trail + [dep])
        state[name] = 2

    for name in sorted(graph):
        if not state.get(name):
            visit(name, [name])
