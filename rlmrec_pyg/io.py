r"""Reading and writing files at the library's trust boundary.

Every file read from disk may come from elsewhere (a checkpoint handed over
by a colleague, a dataset folder from an archive, a cache on a shared
drive), so nothing here can run code: tensors are read with
:func:`torch.load` and an explicit :obj:`weights_only=True` on every torch
the package allows (never a fallback to the full unpickler), pickles with
the restricted unpickler of :mod:`rlmrec_pyg.data.unpickle`. Every write is
crash-safe: a temporary file beside the target, flushed and fsynced, then
renamed over it (:func:`os.replace`) and the folder fsynced, so a killed
process leaves the old file or the new one, never half of one.
"""
import json
import os
import os.path as osp
import pickle
from typing import Any, Callable, Optional

import torch


class UnsafeFileError(pickle.UnpicklingError):
    r"""Raised when a file would need code execution to load: it names a
    global (a function or class) outside the allowed tensors and plain
    containers. Nothing from the file was imported or called."""


class CorruptFileError(ValueError):
    r"""Raised when a file is truncated, not in the expected format or
    holds values of the wrong kind; the message names the file."""


#: Phrases of :func:`torch.load`'s weights-only unpickler when a file names
#: a global it refuses (as opposed to a truncated or garbled file).
_REFUSED = ('GLOBAL', 'allowed global', 'is blocked', 'Unsupported class')


def torch_load(path: str, what: str = 'file',
               map_location: Any = 'cpu') -> Any:
    r"""Loads :obj:`path` with :func:`torch.load` and
    :obj:`weights_only=True`: only tensors, numbers, strings and plain
    containers (and the globals PyG allowlists for its data classes) come
    back; a file that names anything else is refused before it is imported
    or called.

    Args:
        path (str): The file.
        what (str, optional): What the file is, for error messages
            (*e.g.*, :obj:`"checkpoint"`). (default: :obj:`"file"`)
        map_location (optional): As in :func:`torch.load`.
            (default: :obj:`"cpu"`)

    Raises:
        UnsafeFileError: The file names a global outside the allowlist.
        CorruptFileError: The file is missing, truncated or unreadable.
    """
    if not osp.isfile(path):
        raise CorruptFileError(f"The {what} '{path}' does not exist")
    try:
        return torch.load(path, map_location=map_location,
                          weights_only=True)
    except pickle.UnpicklingError as e:
        text = str(e)
        if any(phrase in text for phrase in _REFUSED):
            detail = text.split('\n\n')[-2] if '\n\n' in text else text
            raise UnsafeFileError(
                f"Refused to load the {what} '{path}': it names code to run "
                f"on load ({detail.strip()[:300]}); only tensors and plain "
                f"containers are accepted. Do not use files from a source "
                f"you do not trust") from None
        raise CorruptFileError(f"Could not read the {what} '{path}' "
                               f"({osp.getsize(path)} bytes): it is "
                               f"truncated or not a torch file") from None
    except (RuntimeError, EOFError, ValueError, OSError, IndexError,
            KeyError, TypeError, AttributeError) as e:
        raise CorruptFileError(
            f"Could not read the {what} '{path}' ({osp.getsize(path)} "
            f"bytes): it is truncated or not a torch file "
            f"({type(e).__name__}: {str(e).splitlines()[0][:200]})"
        ) from None


def fsync_dir(path: str) -> None:
    r"""Makes a rename inside the folder :obj:`path` durable (POSIX; a
    no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str, write: Callable[[Any], None],
                 mode: str = 'wb') -> None:
    r"""Calls :obj:`write(f)` on a temporary file beside :obj:`path`,
    fsyncs it and renames it over :obj:`path`; a crash at any point leaves
    either the previous file or the complete new one."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = f'{path}.tmp{os.getpid()}'
    try:
        with open(tmp, mode, **({} if 'b' in mode else dict(
                encoding='utf-8'))) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    fsync_dir(folder)


def torch_save(obj: Any, path: str) -> None:
    r"""Writes :obj:`obj` with :func:`torch.save`, crash-safely
    (:func:`atomic_write`)."""
    atomic_write(path, lambda f: torch.save(obj, f))


def json_save(obj: Any, path: str, indent: Optional[int] = 2) -> None:
    r"""Writes :obj:`obj` as JSON, crash-safely (:func:`atomic_write`)."""
    atomic_write(path, lambda f: json.dump(obj, f, indent=indent), 'w')
