r"""The mutation check (``tests/mutation_check.py``) stays runnable: every
mutation's snippet occurs exactly once in its file, the mutated file still
compiles (a mutant must fail by behaviour, not by a syntax error), and the
tests it names exist."""
import os.path as osp

import pytest
from mutation_check import MUTATIONS, ROOT, apply


@pytest.mark.parametrize('mutation', MUTATIONS, ids=lambda m: m.name)
def test_mutation_applies(mutation, tmp_path):
    target = tmp_path / mutation.path
    target.parent.mkdir(parents=True)
    target.write_text(open(osp.join(ROOT, mutation.path)).read())
    original = apply(str(tmp_path), mutation)
    mutated = target.read_text()
    assert mutated != original
    compile(mutated, mutation.path, 'exec')
    for test in mutation.tests:
        assert osp.isfile(osp.join(ROOT, test.split('::')[0])), test


def test_names_are_unique():
    names = [m.name for m in MUTATIONS]
    assert len(names) == len(set(names)) and len(names) >= 30
