r"""The README's code stays true: its "Five lines of API" block runs (with
a fast stand-in text encoder and one epoch) and every command-line entry
point it names is declared in setup.cfg."""
import configparser
import math
import os.path as osp
import re

ROOT = osp.join(osp.dirname(__file__), '..')


def readme() -> str:
    with open(osp.join(ROOT, 'README.md')) as f:
        return f.read()


def test_api_block_runs(data_cache, tmp_path, monkeypatch, capsys):
    text = readme()
    section = text[text.index('## Five lines of API'):]
    code = re.search(r'```python\n(.*?)```', section, re.S).group(1)
    assert 'SentenceTransformerEncoder()' in code and 'max_epochs=50' in code
    code = code.replace('SentenceTransformerEncoder()', 'HashTextEncoder(384)')
    code = code.replace('max_epochs=50', 'max_epochs=1')
    code = 'from rlmrec_pyg.testing import HashTextEncoder\n' + code
    monkeypatch.chdir(tmp_path)
    exec(compile(code, 'README.md', 'exec'), {})
    printed = capsys.readouterr().out
    values = re.findall(r"'ndcg@20': ([0-9.e-]+)", printed)
    assert len(values) == 1 and math.isfinite(float(values[0]))


def test_entry_points_are_declared():
    cfg = configparser.ConfigParser()
    cfg.read(osp.join(ROOT, 'setup.cfg'))
    scripts = cfg['options.entry_points']['console_scripts']
    declared = dict(
        line.split(' = ') for line in scripts.strip().splitlines())
    for name in re.findall(r'`(rlmrec-[a-z]+)`', readme()):
        assert name in declared, name
    for target in declared.values():
        module, func = target.split(':')
        assert callable(getattr(__import__(module, fromlist=[func]), func))
