r"""An on-disk cache of text vectors keyed by encoder name and text hash."""
import hashlib
import logging
import os
import os.path as osp
import re
import uuid
from typing import Dict, List, Sequence

import torch
from torch import Tensor

from rlmrec_pyg.semantic.encoder import TextEncoder, check_texts, text_hash

log = logging.getLogger(__name__)


def safe_name(name: str) -> str:
    r"""A file-system-safe folder name for an encoder name (which may be a
    path), short and unique."""
    short = re.sub(r'[^A-Za-z0-9._-]+', '_', name.rstrip('/'))[-48:]
    return f"{short}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


class CachedEncoder:
    r"""Wraps a :class:`TextEncoder`: vectors are looked up by
    :obj:`(encoder.name, sha256(text))` in :obj:`cache_dir`, only unseen
    texts are encoded (each text once, in chunks of :obj:`chunk_size`), and
    every chunk is saved as its own shard as soon as it is done, so an
    interrupted run keeps what it paid for.

    Args:
        encoder (TextEncoder): The wrapped encoder.
        cache_dir (str): Root folder; the vectors of one encoder live in
            :obj:`<cache_dir>/<sanitised name>/shard-*.pt`.
        chunk_size (int, optional): Texts encoded per shard.
            (default: :obj:`4096`)
    """
    def __init__(self, encoder: TextEncoder, cache_dir: str,
                 chunk_size: int = 4096) -> None:
        self.encoder = encoder
        self.name = encoder.name
        self.root = osp.join(osp.expanduser(cache_dir),
                             safe_name(encoder.name))
        self.chunk_size = chunk_size
        self._vectors: Dict[str, Tensor] = {}
        self._loaded = False

    def _load(self) -> None:
        if self._loaded or not osp.isdir(self.root):
            self._loaded = True
            return
        for file in sorted(os.listdir(self.root)):
            if file.startswith('shard-') and file.endswith('.pt'):
                shard = torch.load(osp.join(self.root, file))
                self._vectors.update(zip(shard['keys'], shard['emb']))
        self._loaded = True

    def encode(self, texts: Sequence[str]) -> Tensor:
        r"""Encodes :obj:`texts`, computing only those not in the cache."""
        texts = check_texts(texts, self.__class__.__name__)
        self._load()
        keys = [text_hash(t) for t in texts]
        missing: Dict[str, str] = {}
        for key, text in zip(keys, texts):
            if key not in self._vectors:
                missing.setdefault(key, text)
        log.info(f"'{self.name}': {len(texts) - len(missing)} of "
                 f"{len(texts)} texts cached, encoding {len(missing)}")
        todo: List[str] = list(missing)
        for start in range(0, len(todo), self.chunk_size):
            chunk = todo[start:start + self.chunk_size]
            emb = self.encoder.encode([missing[k] for k in chunk])
            emb = emb.detach().float().cpu()
            self._save(chunk, emb)
            self._vectors.update(zip(chunk, emb))
        if not keys:
            return torch.empty(0, 0)
        return torch.stack([self._vectors[k] for k in keys])

    def _save(self, keys: List[str], emb: Tensor) -> None:
        os.makedirs(self.root, exist_ok=True)
        path = osp.join(self.root, f'shard-{uuid.uuid4().hex}.pt')
        torch.save({'keys': keys, 'emb': emb.clone()}, path + '.tmp')
        os.replace(path + '.tmp', path)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.encoder!r}, {self.root!r})'
