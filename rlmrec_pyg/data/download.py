r"""Fetching raw files: from a local mirror when one is configured, else
from the public URL.

Machines without internet (or with a slow one) can point the environment
variable :obj:`RLMREC_DATA_CACHE` at a folder that mirrors the downloads
(``<cache>/movielens/ml-latest-small.zip``,
``<cache>/rlmrec/<name>/*.pkl``). The folder is only read, never written.
"""
import hashlib
import logging
import os
import os.path as osp
import shutil
from typing import Optional

from torch_geometric.data import download_url

log = logging.getLogger(__name__)

CACHE_ENV = 'RLMREC_DATA_CACHE'


def mirror_path(*parts: str) -> Optional[str]:
    r"""Returns :obj:`<$RLMREC_DATA_CACHE>/<parts>` if that path exists."""
    cache = os.environ.get(CACHE_ENV)
    if not cache:
        return None
    path = osp.join(osp.expanduser(cache), *parts)
    return path if osp.exists(path) else None


def fetch(url: str, folder: str, *mirror_parts: str) -> str:
    r"""Puts the file behind :obj:`url` into :obj:`folder` and returns its
    path: copied from the mirror :obj:`mirror_parts` when present (see the
    module docstring), else downloaded."""
    os.makedirs(folder, exist_ok=True)
    src = mirror_path(*mirror_parts) if mirror_parts else None
    if src is not None and osp.isfile(src):
        dst = osp.join(folder, osp.basename(src))
        log.info(f"Copying '{src}' from the local mirror ${CACHE_ENV}")
        tmp = dst + '.part'
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
        return dst
    return download_url(url, folder)


def sha256(path: str) -> str:
    r"""Returns the hex SHA-256 of the file at :obj:`path`."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def check_sha256(path: str, expected: str) -> None:
    r"""Raises a :class:`ValueError` naming :obj:`path` if its SHA-256 is not
    :obj:`expected`."""
    got = sha256(path)
    if got != expected:
        raise ValueError(f"Checksum mismatch for '{path}': expected sha256 "
                         f"{expected}, got {got}. Delete the file and "
                         f"download it again")
