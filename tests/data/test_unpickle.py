import os
import pickle

import numpy as np
import pytest
import scipy.sparse as sp

from rlmrec_pyg.data import UnsafePickleError, safe_load


class _Evil:
    def __reduce__(self):
        return (os.system, ('touch SHOULD_NOT_EXIST',))


class _EvalEvil:
    def __reduce__(self):
        return (eval, ('open("SHOULD_NOT_EXIST_EVAL", "w")',))


@pytest.mark.parametrize('evil,name', [(_Evil(), 'system'),
                                       (_EvalEvil(), 'builtins.eval')])
def test_refuses_other_globals(tmp_path, monkeypatch, evil, name):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / 'evil.pkl'
    with open(path, 'wb') as f:
        pickle.dump({'mat': evil}, f)
    with pytest.raises(UnsafePickleError, match=name) as e:
        safe_load(str(path))
    assert 'evil.pkl' in str(e.value)
    # Nothing ran: neither payload created its file.
    assert sorted(p.name for p in tmp_path.iterdir()) == ['evil.pkl']


def test_loads_official_types(tmp_path):
    mat = sp.coo_matrix(np.eye(4, 5))
    emb = np.random.rand(4, 3)
    prf = {0: {'profile': 'p', 'reasoning': 'r', 'x': np.float64(1.5)}}
    for i, obj in enumerate([mat, emb, prf, [prf[0]]]):
        path = tmp_path / f'{i}.pkl'
        with open(path, 'wb') as f:
            pickle.dump(obj, f)
        out = safe_load(str(path))
        assert type(out) is type(obj)
    assert (safe_load(str(tmp_path / '0.pkl')) != mat).nnz == 0


def test_truncated_file(tmp_path):
    path = tmp_path / 'trn_mat.pkl'
    blob = pickle.dumps(sp.coo_matrix(np.eye(50)))
    path.write_bytes(blob[:len(blob) // 2])
    with pytest.raises(ValueError, match='trn_mat.pkl.*truncated'):
        safe_load(str(path))
