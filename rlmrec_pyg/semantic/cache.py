r"""An on-disk cache of text vectors keyed by encoder name and text hash."""
import hashlib
import logging
import os
import os.path as osp
import re
import uuid
from typing import Any, Dict, List, Optional, Sequence

import torch
from torch import Tensor

from rlmrec_pyg.io import CorruptFileError, fsync_dir, torch_load, torch_save
from rlmrec_pyg.semantic.encoder import TextEncoder, check_texts, text_hash

log = logging.getLogger(__name__)

#: The subfolder that broken shards are moved into.
QUARANTINE = 'quarantine'


def safe_name(name: str) -> str:
    r"""A file-system-safe folder name for an encoder name (which may be a
    path), short and unique."""
    short = re.sub(r'[^A-Za-z0-9._-]+', '_', name.rstrip('/'))[-48:]
    return f"{short}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def check_vectors(emb: Any, num_rows: int) -> Optional[str]:
    r"""Returns what is wrong with :obj:`emb` as the vectors of
    :obj:`num_rows` texts (a 2-D float tensor, one finite row per text), or
    :obj:`None`."""
    if not isinstance(emb, Tensor) or not emb.is_floating_point() \
            or emb.dim() != 2:
        kind = (f'a {emb.dim()}-D {emb.dtype} tensor' if isinstance(
            emb, Tensor) else type(emb).__name__)
        return f'{kind} instead of a 2-D float tensor'
    if emb.size(0) != num_rows or emb.size(1) < 1:
        return f'vectors of shape {tuple(emb.shape)} for {num_rows} texts'
    if not bool(torch.isfinite(emb).all()):
        return 'non-finite vectors (NaN or inf)'
    return None


def check_shard(shard: Any) -> Optional[str]:
    r"""Returns what is wrong with :obj:`shard` as a vector shard
    (``{'keys': list of str, 'emb': Tensor [len(keys), dim]}``), or
    :obj:`None`."""
    if not isinstance(shard, dict) or not {'keys', 'emb'} <= set(shard):
        return f"a {type(shard).__name__}, not a dict of 'keys' and 'emb'"
    keys = shard['keys']
    if not isinstance(keys, list) or not keys \
            or not all(isinstance(key, str) for key in keys):
        return "'keys' is not a non-empty list of strings"
    return check_vectors(shard['emb'], len(keys))


class CachedEncoder:
    r"""Wraps a :class:`TextEncoder`: vectors are looked up by
    :obj:`(encoder.name, sha256(text))` in :obj:`cache_dir`, only unseen
    texts are encoded (each text once, in chunks of :obj:`chunk_size`), and
    every chunk is saved crash-safely as its own shard as soon as it is
    done, so an interrupted run keeps what it paid for.

    Shards are read with :obj:`weights_only=True`: a shard that names code
    to run raises :class:`~rlmrec_pyg.io.UnsafeFileError` (and nothing is
    changed). A shard that is truncated, of the wrong structure or holds
    non-finite vectors is moved into :obj:`<root>/quarantine/` with a
    warning, and its texts are encoded again. All vectors returned have the
    width the encoder makes now: when shards disagree with each other or
    with new vectors, the width is taken from the encoder (from the texts
    to encode, else from one probe text) and the shards of any other width
    are quarantined and their texts encoded again. A cache whose shards
    agree is trusted when nothing needs encoding (the encoder's
    :obj:`name` identifies its vectors).

    Args:
        encoder (TextEncoder): The wrapped encoder.
        cache_dir (str): Root folder; the vectors of one encoder live in
            :obj:`<cache_dir>/<sanitised name>/shard-*.pt`.
        chunk_size (int, optional): Texts encoded per shard (:obj:`None`:
            the encoder's :obj:`save_every` if it has one, so that a paid
            encoder's every request is saved as soon as it returns, else
            :obj:`4096`). (default: :obj:`None`)
    """
    def __init__(self, encoder: TextEncoder, cache_dir: str,
                 chunk_size: Optional[int] = None) -> None:
        self.encoder = encoder
        self.name = encoder.name
        self.root = osp.join(osp.expanduser(cache_dir),
                             safe_name(encoder.name))
        if chunk_size is None:
            chunk_size = int(getattr(encoder, 'save_every', 4096))
        if isinstance(chunk_size, bool) or not isinstance(
                chunk_size, int) or chunk_size < 1:
            raise ValueError(f"'chunk_size' must be a positive integer in "
                             f"'{self.__class__.__name__}' (got "
                             f"{chunk_size!r})")
        self.chunk_size = chunk_size
        self._vectors: Dict[str, Tensor] = {}
        self._shard_of: Dict[str, str] = {}  # Text hash -> shard file.
        self._width: Dict[str, int] = {}  # Shard file -> vector width.
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        files = sorted(os.listdir(self.root)) if osp.isdir(self.root) else []
        good, bad = [], []
        for file in files:
            if not (file.startswith('shard-') and file.endswith('.pt')):
                continue
            try:  # An UnsafeFileError stops here, before any change.
                shard = torch_load(osp.join(self.root, file), 'vector shard')
            except CorruptFileError as e:
                bad.append((file, str(e)))
                continue
            reason = check_shard(shard)
            if reason is None:
                good.append((file, shard))
            else:
                bad.append((file, f'it holds {reason}'))
        for file, reason in bad:
            self._quarantine(file, reason)
        for file, shard in good:
            self._remember(file, shard['keys'], shard['emb'].float())
        self._loaded = True

    def _remember(self, file: str, keys: List[str], emb: Tensor) -> None:
        self._width[file] = emb.size(1)
        for key, vector in zip(keys, emb):
            self._vectors[key] = vector
            self._shard_of[key] = file

    def _quarantine(self, file: str, reason: str) -> None:
        r"""Moves the shard :obj:`file` (and its vectors) out of the
        cache."""
        for key in [k for k, f in self._shard_of.items() if f == file]:
            del self._vectors[key], self._shard_of[key]
        self._width.pop(file, None)
        folder = osp.join(self.root, QUARANTINE)
        os.makedirs(folder, exist_ok=True)
        target = osp.join(folder, file)
        if osp.exists(target):
            target = osp.join(folder, f'{file[:-3]}-{uuid.uuid4().hex}.pt')
        try:
            os.replace(osp.join(self.root, file), target)
        except FileNotFoundError:  # Moved meanwhile by another process.
            return
        fsync_dir(folder)
        fsync_dir(self.root)
        log.warning(f"Moved the vector shard '{osp.join(self.root, file)}' "
                    f"to '{target}': {reason}. Its texts are encoded again")

    def _encode(self, texts: List[str]) -> Tensor:
        emb = self.encoder.encode(texts)
        reason = check_vectors(emb, len(texts))
        if reason is not None:
            raise ValueError(f"The encoder '{self.name}' returned {reason}; "
                             f"nothing of them was cached")
        return emb.detach().float().cpu()

    def _missing(self, keys: List[str], texts: List[str]) -> Dict[str, str]:
        missing: Dict[str, str] = {}
        for key, text in zip(keys, texts):
            if key not in self._vectors:
                missing.setdefault(key, text)
        return missing

    def _settle_width(self, missing: Dict[str, str], probe: str) -> int:
        r"""Returns the width the encoder makes now, from the first chunk of
        :obj:`missing` (which is saved) or else from encoding
        :obj:`probe`, and quarantines the shards of any other width."""
        if missing:
            chunk = list(missing)[:self.chunk_size]
            width = self._save(chunk, self._encode([missing[k]
                                                    for k in chunk]))
        else:
            width = self._encode([probe]).size(1)
        for file, other in list(self._width.items()):
            if other != width:
                self._quarantine(file, f"its vectors have width {other}, but "
                                 f"'{self.name}' makes vectors of width "
                                 f"{width}")
        return width

    def encode(self, texts: Sequence[str]) -> Tensor:
        r"""Encodes :obj:`texts`, computing only those not in the cache."""
        texts = check_texts(texts, self.__class__.__name__)
        self._load()
        if not texts:
            return torch.empty(0, 0)
        keys = [text_hash(t) for t in texts]
        missing = self._missing(keys, texts)
        log.info(f"'{self.name}': {len(texts) - len(missing)} of "
                 f"{len(texts)} texts cached, encoding {len(missing)}")
        if missing or len(set(self._width.values())) > 1:
            width = self._settle_width(missing, texts[0])
            self._encode_all(self._missing(keys, texts), width)
        return torch.stack([self._vectors[k] for k in keys])

    def _encode_all(self, todo: Dict[str, str], width: int) -> None:
        r"""Encodes and saves :obj:`todo` in chunks of :obj:`width`-wide
        vectors."""
        order = list(todo)
        for start in range(0, len(order), self.chunk_size):
            chunk = order[start:start + self.chunk_size]
            emb = self._encode([todo[k] for k in chunk])
            if emb.size(1) != width:
                raise ValueError(f"The encoder '{self.name}' returned vectors "
                                 f"of width {emb.size(1)} after vectors of "
                                 f"width {width}")
            self._save(chunk, emb)

    def _save(self, keys: List[str], emb: Tensor) -> int:
        r"""Writes one shard (crash-safely) and returns its width."""
        os.makedirs(self.root, exist_ok=True)
        file = f'shard-{uuid.uuid4().hex}.pt'
        torch_save({'keys': keys, 'emb': emb.contiguous().clone()},
                   osp.join(self.root, file))
        self._remember(file, keys, emb)
        return emb.size(1)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.encoder!r}, {self.root!r})'
