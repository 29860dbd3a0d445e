r"""An append-only JSONL cache of profile answers, keyed by node type, node
id and a hash of the prompt, so that no paid answer is lost or asked
twice."""
import contextlib
import hashlib
import json
import logging
import os
import os.path as osp
from typing import Any, Dict, Iterator, List, Optional, Tuple

try:
    import fcntl
except ImportError:  # Windows: no advisory locks.
    fcntl = None  # type: ignore[assignment]

from rlmrec_pyg.io import atomic_write, fsync_dir
from rlmrec_pyg.typing import NodeType

log = logging.getLogger(__name__)

Key = Tuple[str, int, str]

#: A line that could not be read: its 1-based number, bytes and why.
BadLine = Tuple[int, bytes, str]

#: Line numbers named in one warning (the rest are counted).
_MAX_NAMED = 10


def prompt_hash(*parts: str) -> str:
    r"""The sha256 (hex, 32 characters) of the prompt parts (model name,
    system prompt, user prompt): a changed template gives a new key."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode('utf-8'))
        h.update(b'\x00')
    return h.hexdigest()[:32]


def parse_record(line: bytes) -> Dict[str, Any]:
    r"""Parses one cache line into a record, raising a :class:`ValueError`
    that says what is wrong with it (not UTF-8, not JSON, not a record).

    Args:
        line (bytes): The line, without its newline.
    """
    try:
        text = line.decode('utf-8')
    except UnicodeDecodeError as e:
        raise ValueError(f'not UTF-8 (byte {line[e.start]:#04x} at column '
                         f'{e.start + 1})') from None
    try:
        rec = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f'not JSON ({e.msg} at column {e.colno})') from None
    except RecursionError:
        raise ValueError('not JSON (nested too deeply)') from None
    if not isinstance(rec, dict):
        raise ValueError(f'a JSON {type(rec).__name__}, not a record')
    for name, kind in (('node_type', str), ('hash', str), ('status', str)):
        if not isinstance(rec.get(name), kind):
            raise ValueError(f"the record has no string '{name}'")
    node_id = rec.get('node_id')
    if not isinstance(node_id, int) or isinstance(node_id, bool) \
            or node_id < 0:
        raise ValueError(f"'node_id' must be an integer >= 0 (got "
                         f"{node_id!r:.40})")
    if rec['status'] not in ('ok', 'failed'):
        raise ValueError(f"'status' must be 'ok' or 'failed' (got "
                         f"{rec['status']!r:.40})")
    if rec['status'] == 'ok' and not all(
            isinstance(rec.get(name), str)
            for name in ('summarization', 'reasoning')):
        raise ValueError("an 'ok' record needs a string 'summarization' "
                         "and 'reasoning'")
    return rec


def scan(raw: bytes) -> Tuple[List[Dict[str, Any]], List[BadLine], int]:
    r"""Splits the bytes of a cache file into its records, its corrupt lines
    and the offset past its last complete line (anything after it was cut
    short by a killed process)."""
    end = raw.rfind(b'\n') + 1
    records, bad = [], []
    for number, line in enumerate(raw[:end].split(b'\n')[:-1], 1):
        if not line.strip():
            continue
        try:
            records.append(parse_record(line))
        except ValueError as e:
            bad.append((number, line, str(e)))
    return records, bad, end


class ProfileCache:
    r"""Answers appended to :obj:`path` one JSON line each, flushed and
    fsynced as soon as they arrive.

    A record is ``{"node_type", "node_id", "hash", "status", ...}`` with
    :obj:`status` :obj:`"ok"` (then :obj:`summarization`,
    :obj:`reasoning`, :obj:`usage`) or :obj:`"failed"` (then :obj:`error`).
    An :obj:`"ok"` record wins over failures of the same key, and
    :meth:`add` refuses a second :obj:`"ok"` record for a key, so the file
    holds at most one answer per key. One process writes a cache at a time
    (:meth:`locked`; :meth:`add` outside of it takes the lock for the one
    write).

    Reading never changes the file unless this object holds the lock: a
    line cut short by a killed process (the last one) and corrupt lines
    (not UTF-8, not JSON, not a record) are skipped with a warning naming
    :obj:`path:line`. Under the lock, the file is repaired: corrupt lines
    are appended to :obj:`<path>.quarantine` (one JSON line each, naming
    :obj:`path:line` and the reason), the cache is rewritten without them
    and a cut last line is dropped. All other answers are kept; the lost
    keys are simply missing, so they are asked again.

    Args:
        path (str): The JSONL file (created with its folder if missing).
    """
    def __init__(self, path: str) -> None:
        self.path = path
        self.quarantine_path = path + '.quarantine'
        self.ok: Dict[Key, Dict[str, Any]] = {}
        self.failed: Dict[Key, Dict[str, Any]] = {}
        self._held = False
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        self._load()

    @staticmethod
    def key(node_type: NodeType, node_id: int, hash: str) -> Key:
        r"""The cache key of one answer: node type, node id and prompt hash."""
        return (str(node_type), int(node_id), hash)

    def _read(self) -> bytes:
        try:
            with open(self.path, 'rb') as f:
                return f.read()
        except FileNotFoundError:
            return b''

    def _load(self) -> None:
        r"""(Re)reads the file; repairs it when the lock is held."""
        raw = self._read()
        records, bad, end = scan(raw)
        self.ok.clear()
        self.failed.clear()
        for rec in records:
            self._remember(rec)
        torn = end < len(raw)
        if self._held and (bad or torn):
            self._repair(raw[:end], bad, torn)
        elif bad or torn:
            self._warn_skipped(bad, torn)

    def _where(self, numbers: List[int]) -> str:
        r"""Names lines of the file as :obj:`path:line` (the first few)."""
        out = ', '.join(f'{self.path}:{n}' for n in numbers[:_MAX_NAMED])
        more = len(numbers) - _MAX_NAMED
        return out + (f' and {more} more' if more > 0 else '')

    def _remember(self, rec: Dict[str, Any]) -> None:
        key = self.key(rec['node_type'], rec['node_id'], rec['hash'])
        if rec['status'] == 'ok':
            self.ok.setdefault(key, rec)
            self.failed.pop(key, None)
        elif key not in self.ok:
            self.failed[key] = rec

    def _warn_skipped(self, bad: List[BadLine], torn: bool) -> None:
        parts = []
        if bad:
            parts.append(f"{len(bad)} corrupt line(s) "
                         f"({self._where([b[0] for b in bad])}; first: "
                         f"{bad[0][2]})")
        if torn:
            parts.append('a last line cut short')
        log.warning(f"Skipping {' and '.join(parts)} of the cache "
                    f"'{self.path}'; the file is repaired by the next run "
                    f"that writes to it")

    def _repair(self, complete: bytes, bad: List[BadLine],
                torn: bool) -> None:
        r"""Quarantines :obj:`bad` lines and drops a torn last line; only
        called while the lock is held."""
        num_lines = complete.count(b'\n')
        done = []
        if bad:
            self._quarantine(bad)
            numbers = {b[0] for b in bad}
            kept = b''.join(
                line + b'\n' for number, line in enumerate(
                    complete.split(b'\n')[:-1], 1) if number not in numbers)
            atomic_write(self.path, lambda f: f.write(kept))
            done.append(f"moved {len(bad)} corrupt line(s) "
                        f"({self._where(sorted(numbers))}; first: "
                        f"{bad[0][2]}) to '{self.quarantine_path}'")
        elif torn:
            with open(self.path, 'r+b') as f:
                f.truncate(len(complete))
                f.flush()
                os.fsync(f.fileno())
        if torn:
            done.append(f'dropped {self._where([num_lines + 1])}, cut '
                        f'short')
        log.warning(f"Repaired the cache '{self.path}': {'; '.join(done)}. "
                    f"Their answers are asked again")

    def _quarantine(self, bad: List[BadLine]) -> None:
        entries = ''.join(
            json.dumps(dict(source=f'{self.path}:{number}', reason=reason,
                            line=line.decode('utf-8', 'surrogateescape'))) +
            '\n' for number, line, reason in bad)
        with open(self.quarantine_path, 'a', encoding='utf-8') as f:
            f.write(entries)
            f.flush()
            os.fsync(f.fileno())
        fsync_dir(osp.dirname(osp.abspath(self.path)))

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        with open(self.path + '.lock', 'w') as f:
            if fcntl is not None:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise RuntimeError(f"The cache '{self.path}' is in use by "
                                       f"another process") from None
            self._held = True
            try:
                yield
            finally:
                self._held = False
                if fcntl is not None:
                    fcntl.flock(f, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def locked(self) -> Iterator['ProfileCache']:
        r"""Holds an exclusive lock on :obj:`<path>.lock` (released by the
        OS if the process dies), reloads the file and repairs it, so that
        two runs never ask for the same answers at once."""
        with self._lock():
            self._load()
            yield self

    def get(self, key: Key) -> Optional[Dict[str, Any]]:
        r"""Returns the :obj:`"ok"` record of :obj:`key`, if any."""
        return self.ok.get(key)

    def add(self, key: Key, **record: Any) -> Dict[str, Any]:
        r"""Appends one record for :obj:`key` and makes it durable."""
        rec = dict(node_type=key[0], node_id=key[1], hash=key[2], **record)
        if self._held:
            self._append(key, rec)
        else:
            with self._lock():
                if not self._ends_complete():
                    self._load()  # Repairs a torn last line first.
                self._append(key, rec)
        return rec

    def _ends_complete(self) -> bool:
        try:
            with open(self.path, 'rb') as f:
                if f.seek(0, os.SEEK_END) == 0:
                    return True
                f.seek(-1, os.SEEK_END)
                return f.read(1) == b'\n'
        except FileNotFoundError:
            return True

    def _append(self, key: Key, rec: Dict[str, Any]) -> None:
        if key in self.ok:
            raise ValueError(f"The cache '{self.path}' already holds an "
                             f"answer for {key}")
        with open(self.path, 'a', encoding='utf-8') as f:
            f.write(json.dumps(rec, ensure_ascii=False) + '\n')
            f.flush()
            os.fsync(f.fileno())
        self._remember(rec)

    def records(self) -> Iterator[Dict[str, Any]]:
        r"""Yields every :obj:`"ok"` record."""
        yield from self.ok.values()

    def __len__(self) -> int:
        return len(self.ok)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.path!r}, ok={len(self.ok)},'
                f' failed={len(self.failed)})')
