r"""An append-only JSONL cache of profile answers, keyed by node type, node
id and a hash of the prompt, so that no paid answer is lost or asked
twice."""
import contextlib
import hashlib
import json
import logging
import os
import os.path as osp
from typing import Any, Dict, Iterator, Optional, Tuple

try:
    import fcntl
except ImportError:  # Windows: no advisory locks.
    fcntl = None  # type: ignore[assignment]

from rlmrec_pyg.typing import NodeType

log = logging.getLogger(__name__)

Key = Tuple[str, int, str]


def prompt_hash(*parts: str) -> str:
    r"""The sha256 (hex, 32 characters) of the prompt parts (model name,
    system prompt, user prompt): a changed template gives a new key."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode('utf-8'))
        h.update(b'\x00')
    return h.hexdigest()[:32]


class ProfileCache:
    r"""Answers appended to :obj:`path` one JSON line each, flushed and
    fsynced as soon as they arrive.

    A record is ``{"node_type", "node_id", "hash", "status", ...}`` with
    :obj:`status` :obj:`"ok"` (then :obj:`summarization`,
    :obj:`reasoning`, :obj:`usage`) or :obj:`"failed"` (then :obj:`error`).
    On load, a line cut short by a killed process is dropped and an
    :obj:`"ok"` record wins over failures of the same key. :meth:`add`
    refuses a second :obj:`"ok"` record for a key, so the file holds at most
    one answer per key. One process writes a cache at a time
    (:meth:`locked`).

    Args:
        path (str): The JSONL file (created with its folder if missing).
    """
    def __init__(self, path: str) -> None:
        self.path = path
        self.ok: Dict[Key, Dict[str, Any]] = {}
        self.failed: Dict[Key, Dict[str, Any]] = {}
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        self._load()

    @staticmethod
    def key(node_type: NodeType, node_id: int, hash: str) -> Key:
        r"""The cache key of one answer: node type, node id and prompt hash."""
        return (str(node_type), int(node_id), hash)

    def _load(self) -> None:
        if not osp.exists(self.path):
            return
        with open(self.path, 'rb') as f:
            raw = f.read()
        good = raw.rfind(b'\n') + 1
        if good < len(raw):  # A line cut short by a kill: drop it.
            log.warning(f"Dropping a truncated last line of '{self.path}'")
            with open(self.path, 'r+b') as f:
                f.truncate(good)
        for line in raw[:good].decode('utf-8').splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            key = self.key(rec['node_type'], rec['node_id'], rec['hash'])
            if rec['status'] == 'ok':
                self.ok.setdefault(key, rec)
                self.failed.pop(key, None)
            elif key not in self.ok:
                self.failed[key] = rec

    @contextlib.contextmanager
    def locked(self) -> Iterator['ProfileCache']:
        r"""Holds an exclusive lock on :obj:`<path>.lock` (released by the
        OS if the process dies) and reloads the file, so that two runs never
        ask for the same answers at once."""
        with open(self.path + '.lock', 'w') as f:
            if fcntl is not None:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise RuntimeError(f"The cache '{self.path}' is in use by "
                                       f"another process") from None
            self._load()
            try:
                yield self
            finally:
                if fcntl is not None:
                    fcntl.flock(f, fcntl.LOCK_UN)

    def get(self, key: Key) -> Optional[Dict[str, Any]]:
        r"""Returns the :obj:`"ok"` record of :obj:`key`, if any."""
        return self.ok.get(key)

    def add(self, key: Key, **record: Any) -> Dict[str, Any]:
        r"""Appends one record for :obj:`key` and makes it durable."""
        if key in self.ok:
            raise ValueError(f"The cache '{self.path}' already holds an "
                             f"answer for {key}")
        rec = dict(node_type=key[0], node_id=key[1], hash=key[2], **record)
        line = json.dumps(rec, ensure_ascii=False) + '\n'
        with open(self.path, 'a', encoding='utf-8') as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        if rec['status'] == 'ok':
            self.ok[key] = rec
            self.failed.pop(key, None)
        else:
            self.failed[key] = rec
        return rec

    def records(self) -> Iterator[Dict[str, Any]]:
        r"""Yields every :obj:`"ok"` record."""
        yield from self.ok.values()

    def __len__(self) -> int:
        return len(self.ok)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.path!r}, ok={len(self.ok)},'
                f' failed={len(self.failed)})')
