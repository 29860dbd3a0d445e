r"""A restricted unpickler for the official RLMRec pickles.

The official ``*_mat.pkl``, ``*_prf.pkl`` and ``*_emb_np.pkl`` files are
pickles from the internet: a plain :func:`pickle.load` would run any code
they name. :func:`safe_load` admits only the scipy sparse matrix classes,
numpy arrays, dtypes and scalars, and plain containers; anything else is
refused *before* it is imported or called.
"""
import os.path as osp
import pickle
from typing import Any, FrozenSet, Tuple

from rlmrec_pyg.io import CorruptFileError, UnsafeFileError

_SPARSE = ('coo_matrix', 'csr_matrix', 'csc_matrix', 'dok_matrix',
           'lil_matrix', 'coo_array', 'csr_array', 'csc_array')
_SPARSE_MODULES = ('scipy.sparse', 'scipy.sparse._coo', 'scipy.sparse.coo',
                   'scipy.sparse._csr', 'scipy.sparse.csr',
                   'scipy.sparse._csc', 'scipy.sparse.csc',
                   'scipy.sparse._dok', 'scipy.sparse.dok',
                   'scipy.sparse._lil', 'scipy.sparse.lil',
                   'scipy.sparse._arrays')

#: The ``(module, name)`` globals a pickle may name.
ALLOWED_GLOBALS: FrozenSet[Tuple[str, str]] = frozenset(
    [(m, c) for m in _SPARSE_MODULES for c in _SPARSE] + [
        (m, n) for m in ('numpy.core.multiarray', 'numpy._core.multiarray')
        for n in ('_reconstruct', 'scalar')
    ] + [
        ('numpy', 'ndarray'),
        ('numpy', 'dtype'),
        ('numpy.core.numeric', '_frombuffer'),
        ('numpy._core.numeric', '_frombuffer'),
        ('collections', 'OrderedDict'),
    ] + [('builtins', n) for n in (
        'list', 'dict', 'tuple', 'set', 'frozenset', 'int', 'float', 'str',
        'bytes', 'bytearray', 'complex', 'bool')])


class UnsafePickleError(UnsafeFileError):
    r"""Raised when a pickle names a global outside
    :obj:`ALLOWED_GLOBALS`."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, path: str) -> None:
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise UnsafePickleError(
                f"Refused to load '{self.path}': it names the global "
                f"'{module}.{name}', which is not a scipy sparse matrix, "
                f"numpy array/dtype or plain container")
        return super().find_class(module, name)


def safe_load(path: str) -> Any:
    r"""Loads the pickle at :obj:`path` with the restricted unpickler.

    Raises:
        UnsafePickleError: If the pickle names a disallowed global (nothing
            is imported or executed).
        CorruptFileError: If the file is truncated or otherwise not a
            readable pickle; the message names the file.
    """
    with open(path, 'rb') as f:
        try:
            return _RestrictedUnpickler(f, path).load()
        except UnsafePickleError:
            raise
        except (EOFError, pickle.UnpicklingError, ValueError, TypeError,
                AttributeError, IndexError, KeyError) as e:
            size = osp.getsize(path)
            raise CorruptFileError(f"Could not read '{path}' ({size} "
                                   f"bytes): the file is truncated or not "
                                   f"a valid pickle ({type(e).__name__}: "
                                   f"{e})") from None
