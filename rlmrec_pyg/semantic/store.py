r"""A memory-mapped, half-precision store of the semantic vectors
:math:`\mathbf{s} = \mathcal{T}(\text{profile})` of one node type
(`"Representation Learning with Large Language Models for Recommendation"
<https://arxiv.org/abs/2310.15950>`_, Eq. 15), written chunk by chunk and
read by training without loading it."""
import hashlib
import itertools
import json
import logging
import os
import os.path as osp
import sys
import uuid
from typing import Any, Dict, Iterable, List, Optional

import torch
from torch import Tensor
from tqdm import tqdm

from rlmrec_pyg.io import fsync_dir, json_save
from rlmrec_pyg.semantic.cache import check_vectors
from rlmrec_pyg.semantic.encoder import TextEncoder

log = logging.getLogger(__name__)

FORMAT = 1
META, VECTORS, KEYS, DONE = 'meta.json', 'vectors.f16', 'keys.sha256', \
    'done.u8'
#: Bytes of one row's key (the sha256 digest of its text).
KEY_BYTES = 32
#: Largest magnitude a float16 holds.
HALF_MAX = float(torch.finfo(torch.float16).max)


def _digests(texts: List[str]) -> bytes:
    return b''.join(hashlib.sha256(t.encode('utf-8')).digest()
                    for t in texts)


def _pread(fd: int, size: int, offset: int) -> bytes:
    out = b''
    while len(out) < size:
        part = os.pread(fd, size - len(out), offset + len(out))
        if not part:
            break
        out += part
    return out


def _pwrite(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        view = view[os.pwrite(fd, view, offset + len(data) - len(view)):]


class VectorStore:
    r"""The vectors of :obj:`num_rows` texts in one float16 file of shape
    :obj:`[num_rows, dim]`, memory-mapped by :meth:`tensor`: a training
    process holds in memory only the rows a step gathers (the operating
    system pages them in and out), so the catalogue's vectors cost disk, not
    RAM.

    :meth:`write` encodes the texts chunk by chunk (:obj:`chunk_size` rows;
    the texts may be a generator) and makes each chunk durable before it
    marks it done, so a run killed at any moment and started again encodes
    only the chunks that are not done. Every row is keyed by the sha256 of
    its text (as :class:`CachedEncoder`): a done chunk whose texts changed
    is encoded again. A store made by another encoder, of another size or
    width, is moved aside to :obj:`<path>.replaced-<id>` (with a warning)
    and written anew.

    Files in :obj:`path`: :obj:`meta.json` (encoder name, rows, width,
    chunk size), :obj:`vectors.f16` (the rows, float16 in the machine's
    byte order),
    :obj:`keys.sha256` (32 bytes a row) and :obj:`done.u8` (a byte a chunk).

    .. code-block:: python

        store = VectorStore('vectors/item')
        store.write(SentenceTransformerEncoder(), profiles)
        data['item'].sem_emb = store.tensor()  # [num_items, 384] float16

    Args:
        path (str): The store's folder.
    """
    def __init__(self, path: str) -> None:
        self.path = osp.expanduser(path)
        self.meta: Optional[Dict[str, Any]] = None
        meta = osp.join(self.path, META)
        if osp.isfile(meta):
            with open(meta, encoding='utf-8') as f:
                self.meta = json.load(f)

    def _file(self, name: str) -> str:
        return osp.join(self.path, name)

    @property
    def num_rows(self) -> int:
        return int(self._meta()['num_rows'])

    @property
    def dim(self) -> int:
        return int(self._meta()['dim'])

    @property
    def encoder(self) -> str:
        r"""The name of the encoder that made the vectors."""
        return str(self._meta()['encoder'])

    def _meta(self) -> Dict[str, Any]:
        if self.meta is None:
            raise FileNotFoundError(f"'{self.path}' holds no vector store "
                                    f"(no '{META}'): write it first")
        return self.meta

    def num_chunks(self) -> int:
        meta = self._meta()
        return -(-meta['num_rows'] // meta['chunk_size'])

    def done(self) -> List[bool]:
        r"""Whether each chunk is written."""
        with open(self._file(DONE), 'rb') as f:
            flags = f.read()
        return [b == 1 for b in flags[:self.num_chunks()]]

    def is_complete(self) -> bool:
        return self.meta is not None and all(self.done())

    def _matches(self, encoder: str, num_rows: int,
                 chunk_size: int) -> bool:
        meta = self.meta
        return (meta is not None and meta.get('format') == FORMAT
                and meta.get('encoder') == encoder
                and meta.get('num_rows') == num_rows
                and meta.get('chunk_size') == chunk_size and all(
                    osp.isfile(self._file(n)) for n in (VECTORS, KEYS, DONE)))

    def _move_aside(self, why: str) -> None:
        target = f'{self.path.rstrip(os.sep)}.replaced-{uuid.uuid4().hex[:8]}'
        os.replace(self.path, target)
        fsync_dir(osp.dirname(osp.abspath(target)))
        log.warning(f"Moved the vector store '{self.path}' to '{target}' "
                    f"({why}); it is written anew")
        self.meta = None

    def _check_empty(self) -> None:
        # Without meta.json no chunk was written (it comes first): our own
        # files are reused, anything else is not ours to touch.
        ours = (VECTORS, KEYS, DONE, META)
        other = [f for f in (os.listdir(self.path) if osp.isdir(self.path)
                             else []) if not f.startswith(ours)]
        if other:
            raise ValueError(f"'path' of '{self.__class__.__name__}' must be "
                             f"a vector store or a new or empty folder (got "
                             f"'{self.path}' holding {sorted(other)[:3]})")

    def _create(self, encoder: str, num_rows: int, chunk_size: int,
                dim: int) -> None:
        os.makedirs(self.path, exist_ok=True)
        for name, size in ((VECTORS, num_rows * dim * 2),
                           (KEYS, num_rows * KEY_BYTES),
                           (DONE, -(-num_rows // chunk_size))):
            with open(self._file(name), 'wb') as f:
                f.truncate(size)  # Sparse: zeros cost no disk until written.
                os.fsync(f.fileno())
        meta = dict(format=FORMAT, encoder=encoder, num_rows=num_rows,
                    dim=dim, dtype='float16', chunk_size=chunk_size)
        json_save(meta, self._file(META))  # Last: it marks the files ready.
        self.meta = meta

    def write(self, encoder: TextEncoder, texts: Iterable[str],
              num_rows: Optional[int] = None, chunk_size: int = 4096,
              progress: Optional[bool] = None) -> 'VectorStore':
        r"""Encodes :obj:`texts` into the store, skipping the chunks already
        done for the same texts, and returns :obj:`self`.

        Args:
            encoder (TextEncoder): The text encoder.
            texts (Iterable[str]): One text per row, read once, in order
                (a generator is fine: at most one chunk is held).
            num_rows (int, optional): The number of texts (:obj:`None`:
                :obj:`len(texts)`).
            chunk_size (int, optional): Rows encoded and saved at a time.
                (default: :obj:`4096`)
            progress (bool, optional): Show a progress bar with rate and
                ETA (:obj:`None`: only on a terminal).
        """
        name = self.__class__.__name__
        if num_rows is None:
            if not hasattr(texts, '__len__'):
                raise ValueError(f"'num_rows' is needed in '{name}.write' "
                                 f"when 'texts' has no length (got a "
                                 f"{type(texts).__name__})")
            num_rows = len(texts)  # type: ignore[arg-type]
        for arg, value in (('num_rows', num_rows), ('chunk_size',
                                                    chunk_size)):
            if isinstance(value, bool) or not isinstance(value, int) \
                    or value < 1:
                raise ValueError(f"'{arg}' must be a positive integer in "
                                 f"'{name}.write' (got {value!r})")
        if self.meta is not None and not self._matches(
                encoder.name, num_rows, chunk_size):
            old = self.meta
            self._move_aside(f"made by '{old.get('encoder')}' for "
                             f"{old.get('num_rows')} rows in chunks of "
                             f"{old.get('chunk_size')}; now '{encoder.name}'"
                             f" for {num_rows} rows in chunks of "
                             f"{chunk_size}")
        elif self.meta is None:
            self._check_empty()
        it = iter(texts)
        if progress is None:
            progress = sys.stderr.isatty()
        bar = tqdm(total=num_rows, unit='text', disable=not progress,
                   desc=f'vectors {osp.basename(self.path)}')
        skipped = encoded = 0
        for chunk_id, start in enumerate(range(0, num_rows, chunk_size)):
            size = min(chunk_size, num_rows - start)
            chunk = list(itertools.islice(it, size))
            if len(chunk) != size:
                raise ValueError(f"'texts' ended after {start + len(chunk)} "
                                 f"of {num_rows} texts in '{name}.write'")
            keys = _digests(chunk)
            if self.meta is not None and self._chunk_done(chunk_id, start,
                                                          keys):
                skipped += size
            else:
                self._write_chunk(encoder, chunk_id, start, chunk, keys,
                                  chunk_size, num_rows)
                encoded += size
            bar.update(size)
        bar.close()
        if next(it, None) is not None:
            raise ValueError(f"'texts' holds more than 'num_rows' = "
                             f"{num_rows} texts in '{name}.write'")
        log.info(f"'{self.path}': {encoded} texts encoded with "
                 f"'{encoder.name}', {skipped} already stored")
        return self

    def _chunk_done(self, chunk_id: int, start: int, keys: bytes) -> bool:
        fd = os.open(self._file(DONE), os.O_RDONLY)
        try:
            done = _pread(fd, 1, chunk_id) == b'\x01'
        finally:
            os.close(fd)
        if not done:
            return False
        fd = os.open(self._file(KEYS), os.O_RDONLY)
        try:
            return _pread(fd, len(keys), start * KEY_BYTES) == keys
        finally:
            os.close(fd)

    def _write_chunk(self, encoder: TextEncoder, chunk_id: int, start: int,
                     chunk: List[str], keys: bytes, chunk_size: int,
                     num_rows: int) -> None:
        emb = encoder.encode(chunk)
        reason = check_vectors(emb, len(chunk))
        if reason is None and bool((emb.detach().abs() > HALF_MAX).any()):
            reason = f'values beyond float16 (|x| > {HALF_MAX:g})'
        if reason is not None:
            raise ValueError(f"The encoder '{encoder.name}' returned {reason} "
                             f"for rows {start}-{start + len(chunk) - 1}; "
                             f"nothing of them was stored")
        if self.meta is None:
            self._create(encoder.name, num_rows, chunk_size, emb.size(1))
        if emb.size(1) != self.dim:
            raise ValueError(f"The encoder '{encoder.name}' returned vectors "
                             f"of width {emb.size(1)}, but the store "
                             f"'{self.path}' holds width {self.dim}")
        half = emb.detach().cpu().to(torch.float16).contiguous()
        # Rows and keys first, made durable; only then the chunk's flag.
        for name, data, offset in (
                (VECTORS, half.numpy().tobytes(), start * self.dim * 2),
                (KEYS, keys, start * KEY_BYTES), (DONE, b'\x01', chunk_id)):
            fd = os.open(self._file(name), os.O_WRONLY)
            try:
                _pwrite(fd, data, offset)
                os.fsync(fd)
            finally:
                os.close(fd)

    def tensor(self) -> Tensor:
        r"""The vectors as a read-only-by-convention, memory-mapped float16
        tensor :obj:`[num_rows, dim]` (copy-on-write: writing to it never
        changes the file). Raises if a chunk is not written."""
        meta = self._meta()
        done = self.done()
        if not all(done):
            raise ValueError(f"The vector store '{self.path}' is incomplete: "
                             f"{done.count(False)} of {len(done)} chunks are "
                             f"not written (run its write again to finish "
                             f"it)")
        num = meta['num_rows'] * meta['dim']
        size = osp.getsize(self._file(VECTORS))
        if size != num * 2:
            raise ValueError(f"The vector store '{self.path}' has a "
                             f"'{VECTORS}' of {size} bytes, expected "
                             f"{num * 2}")
        return torch.from_file(self._file(VECTORS), shared=False, size=num,
                               dtype=torch.float16).view(
                                   meta['num_rows'], meta['dim'])

    def __repr__(self) -> str:
        if self.meta is None:
            return f'{self.__class__.__name__}({self.path!r}, empty)'
        return (f'{self.__class__.__name__}({self.path!r}, '
                f'{self.meta["encoder"]!r}, [{self.num_rows}, {self.dim}])')
