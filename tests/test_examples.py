r"""Every example script and notebook under ``examples/`` runs to the end on
CI-sized settings (few epochs, the real all-MiniLM-L6-v2 with one vector
cache shared with the README test, the fake OpenAI server), and the
notebooks draw their figures."""
import glob
import os
import os.path as osp
import subprocess
import sys
from typing import Dict, List

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
EXAMPLES = osp.join(REPO, 'examples')
SCRIPTS = sorted(
    glob.glob(osp.join(EXAMPLES, '*.py')) +
    glob.glob(osp.join(EXAMPLES, '*.sh')))
NOTEBOOKS = sorted(glob.glob(osp.join(EXAMPLES, 'notebooks', '*.ipynb')))

#: Examples reading MovieLens: they need the download mirror.
NEEDS_DATA = ('lightgcn_contrastive', 'llm_profiles')
#: Extra arguments of a script, and a line its output must contain.
ARGS: Dict[str, List[str]] = {
    'llm_profiles.py': ['--fake_server'],
    'hydra_sweep.sh': ['dataset=fake', '~semantic'],
}
EXPECT = {
    'lightgcn_contrastive.py': 'Con vs Base recall@20',
    'llm_profiles.py': 'sem_emb: user [608, 384], item [3012, 384]',
    'wrap_your_gnn.py': 'test recall@20',
    'hydra_sweep.sh': '| alignment=contrastive | 2 |',
}
#: Figures a notebook draws.
FIGURES = {'lightgcn_contrastive': 3, 'wrap_your_gnn': 1, 'llm_profiles': 2}


def _name(path: str) -> str:
    return osp.splitext(osp.basename(path))[0]


@pytest.fixture(scope='module')
def shared_root(work_root: str) -> str:
    # One data/cache folder for all examples (and the README test):
    # MovieLens is processed and its profiles encoded once.
    return osp.join(work_root, 'data')


@pytest.fixture
def example_env(shared_root: str, tmp_path: str,
                monkeypatch: pytest.MonkeyPatch) -> None:
    cache = os.environ.get('RLMREC_DATA_CACHE')
    if cache:  # Notebooks run in their own folder: make it absolute.
        monkeypatch.setenv('RLMREC_DATA_CACHE', osp.abspath(cache))
    for key, value in dict(RLMREC_EXAMPLE_EPOCHS='2',
                           RLMREC_EXAMPLE_ROOT=shared_root,
                           RLMREC_OUTPUT_DIR=str(tmp_path),
                           RLMREC_DATA_DIR=shared_root,
                           RLMREC_CACHE_DIR=shared_root).items():
        monkeypatch.setenv(key, value)
    for key in ('OPENAI_API_KEY', 'OPENAI_BASE_URL', 'RLMREC_LLM_BASE_URL',
                'RLMREC_EXAMPLE_ENCODER'):
        monkeypatch.delenv(key, raising=False)


def _skip_without_data(path: str) -> None:
    if _name(path) in NEEDS_DATA and not os.environ.get('RLMREC_DATA_CACHE'):
        pytest.skip('RLMREC_DATA_CACHE is not set (MovieLens mirror)')


def test_every_example_is_collected() -> None:
    assert {osp.basename(p) for p in SCRIPTS} >= set(EXPECT)
    assert {_name(p) for p in NOTEBOOKS} >= {
        'lightgcn_contrastive', 'wrap_your_gnn', 'llm_profiles'
    }
    for path in NOTEBOOKS:  # Stored without outputs.
        import nbformat
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            assert not cell.get('outputs'), f'{path} is stored with outputs'


@pytest.mark.parametrize('path', SCRIPTS, ids=osp.basename)
def test_script(path: str, example_env: None) -> None:
    _skip_without_data(path)
    name = osp.basename(path)
    cmd = ['bash'] if path.endswith('.sh') else [sys.executable]
    # A shell script calls `python` and the console scripts of this
    # interpreter's environment, activated or not.
    path_var = osp.dirname(sys.executable) + os.pathsep + os.environ['PATH']
    proc = subprocess.run(cmd + [path] + ARGS.get(name, []), cwd=REPO,
                          env=dict(os.environ, PATH=path_var),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    if name in EXPECT:
        assert EXPECT[name] in proc.stdout, proc.stdout[-3000:]


@pytest.mark.parametrize('path', NOTEBOOKS, ids=osp.basename)
def test_notebook(path: str, example_env: None) -> None:
    nbformat = pytest.importorskip('nbformat')
    nbclient = pytest.importorskip('nbclient')
    _skip_without_data(path)
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name='python3',
        resources={'metadata': {'path': osp.dirname(path)}})
    client.execute()  # Raises CellExecutionError on the first failure.
    images = [
        out for cell in nb.cells for out in cell.get('outputs', [])
        if 'image/png' in out.get('data', {})
    ]
    expected = FIGURES.get(_name(path), 1)
    assert len(images) >= expected, f'{path} drew {len(images)} figures'
