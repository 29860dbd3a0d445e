r"""The cache of profile answers: an indexed SQLite store (standard
library) keyed by node type, node id and a hash of the prompt, so that no
paid answer is lost or asked twice, and a resume costs time in what is
missing, not in everything ever cached."""
import contextlib
import glob
import hashlib
import json
import logging
import os
import os.path as osp
import sqlite3
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

try:
    import fcntl
except ImportError:  # Windows: no advisory locks.
    fcntl = None  # type: ignore[assignment]

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
    r"""Splits the bytes of a JSONL cache file (the format of earlier
    versions) into its records, its corrupt lines and the offset past its
    last complete line (anything after it was cut short by a killed
    process)."""
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


#: The file earlier versions appended answers to; imported on first use.
LEGACY = 'profiles.jsonl'
MAIN = 'profiles.sqlite'
SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    node_type TEXT NOT NULL,
    node_id INTEGER NOT NULL,
    hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    record TEXT NOT NULL,
    PRIMARY KEY (node_type, node_id, hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS imported (
    source TEXT PRIMARY KEY, size INTEGER NOT NULL, records INTEGER NOT NULL
);
"""


def shard_file(shard: Optional[Tuple[int, int]]) -> str:
    r"""The database file a shard :obj:`(index, count)` writes."""
    if shard is None or shard[1] == 1:
        return MAIN
    return f'profiles-shard-{shard[0]}-of-{shard[1]}.sqlite'


def _connect(path: str, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        con = sqlite3.connect(f'file:{path}?mode=ro', uri=True, timeout=60,
                              isolation_level=None, check_same_thread=False)
    else:
        # Used from one thread at a time (run_sync may run the event loop
        # in a helper thread while the caller waits).
        con = sqlite3.connect(path, timeout=60, isolation_level=None,
                              check_same_thread=False)
        # Every answer is durable when add() returns (a killed process
        # loses at most the request in flight); readers never block it.
        con.execute('PRAGMA journal_mode=WAL')
        con.execute('PRAGMA synchronous=FULL')
        con.executescript(SCHEMA)
    return con


class ProfileCache:
    r"""Answers in an SQLite database, one row per key, each committed (and
    fsynced) as soon as it arrives.

    A record is ``{"node_type", "node_id", "hash", "status", ...}`` with
    :obj:`status` :obj:`"ok"` (then :obj:`summarization`,
    :obj:`reasoning`, :obj:`usage`) or :obj:`"failed"` (then :obj:`error`).
    An :obj:`"ok"` record replaces a failure of the same key and is never
    replaced itself: :meth:`add` refuses a second answer for a key, so the
    store holds at most one answer per key. Lookups are indexed, so opening
    a cache of :math:`10^6` answers costs nothing and a resumed run asks
    only what is missing.

    Several processes (or machines sharing a folder) may profile disjoint
    shards at once: each shard writes its own database file
    (:obj:`profiles-shard-<i>-of-<n>.sqlite`; :obj:`profiles.sqlite`
    without shards) and every lookup reads all the database files of the
    folder, so an answer given to any shard is never asked again. One
    process writes a shard at a time (:meth:`locked`). A
    :obj:`profiles.jsonl` of earlier versions in the folder is imported
    into :obj:`profiles.sqlite` once (and left as it is); its corrupt or
    cut lines are skipped with a warning naming :obj:`path:line`, so
    those answers are asked again.

    Args:
        path (str): The folder of the cache (created if missing), or the
            path of a database file in it (:obj:`profiles.sqlite`).
        shard (Tuple[int, int], optional): :obj:`(index, count)` of the
            shard this process writes. (default: :obj:`None`)
    """
    def __init__(self, path: str,
                 shard: Optional[Tuple[int, int]] = None) -> None:
        path = osp.expanduser(path)
        if path.endswith(('.sqlite', '.jsonl')):
            self.folder = osp.dirname(osp.abspath(path))
        else:
            self.folder = osp.abspath(path)
        self.shard = shard
        self.path = osp.join(self.folder, shard_file(shard))
        os.makedirs(self.folder, exist_ok=True)
        self._con = _connect(self.path)
        self._import_legacy()
        self._others: Dict[str, sqlite3.Connection] = {}
        self._globbed = False

    @staticmethod
    def key(node_type: NodeType, node_id: int, hash: str) -> Key:
        r"""The cache key of one answer: node type, node id and prompt hash."""
        return (str(node_type), int(node_id), hash)

    # Reading --------------------------------------------------------------

    def _readers(self, refresh: bool = False) -> List[sqlite3.Connection]:
        r"""This shard's database, then every other one of the folder
        (looked for again when :obj:`refresh`)."""
        if refresh or not self._globbed:
            for file in sorted(glob.glob(osp.join(self.folder,
                                                  'profiles*.sqlite'))):
                if file != self.path and file not in self._others:
                    self._others[file] = _connect(file, readonly=True)
            self._globbed = True
        return [self._con, *self._others.values()]

    def _find(self, key: Key, status: str) -> Optional[Dict[str, Any]]:
        # A miss looks for shard files created since (a miss is about to
        # cost a request; a hit costs one indexed lookup).
        for refresh in (False, True):
            for con in self._readers(refresh):
                row = con.execute(
                    'SELECT record FROM answers WHERE node_type = ? AND '
                    'node_id = ? AND hash = ? AND status = ?',
                    (*key, status)).fetchone()
                if row is not None:
                    return json.loads(row[0])
        return None

    def get(self, key: Key) -> Optional[Dict[str, Any]]:
        r"""Returns the :obj:`"ok"` record of :obj:`key`, if any."""
        return self._find(key, 'ok')

    def failure(self, key: Key) -> Optional[Dict[str, Any]]:
        r"""Returns the last :obj:`"failed"` record of :obj:`key` when it
        has no answer, else :obj:`None`."""
        return None if self.get(key) else self._find(key, 'failed')

    def _all(self, status: str) -> Dict[Key, Dict[str, Any]]:
        out: Dict[Key, Dict[str, Any]] = {}
        for con in self._readers(refresh=True):
            for row in con.execute('SELECT node_type, node_id, hash, record '
                                   'FROM answers WHERE status = ?',
                                   (status, )):
                out.setdefault(tuple(row[:3]), json.loads(row[3]))
        return out

    @property
    def ok(self) -> Dict[Key, Dict[str, Any]]:
        r"""Every :obj:`"ok"` record by key (reads the whole cache: for
        inspection, not for lookups)."""
        return self._all('ok')

    @property
    def failed(self) -> Dict[Key, Dict[str, Any]]:
        r"""Every key whose last request failed and that has no answer
        (reads the whole cache)."""
        ok = self.ok
        return {k: v for k, v in self._all('failed').items() if k not in ok}

    def records(self) -> Iterator[Dict[str, Any]]:
        r"""Yields every :obj:`"ok"` record."""
        yield from self.ok.values()

    def __len__(self) -> int:
        return len(self.ok)

    # Writing --------------------------------------------------------------

    def add(self, key: Key, **record: Any) -> Dict[str, Any]:
        r"""Stores one record for :obj:`key` durably: an answer replaces a
        failure; a failure never replaces an answer; a second answer raises
        a :class:`ValueError`."""
        return self.add_many([(key, record)])[0]

    def add_many(self, items: Iterable[Tuple[Key, Dict[str, Any]]]
                 ) -> List[Dict[str, Any]]:
        r"""Stores :obj:`(key, record)` pairs as :meth:`add` does, in one
        transaction (one fsync: a Batch API output file of 50,000 answers
        is stored in a second; a process killed meanwhile stores none of
        them, and its batch is ingested again)."""
        out = []
        con = self._con
        con.execute('BEGIN IMMEDIATE')
        try:
            for key, record in items:
                rec = dict(node_type=key[0], node_id=key[1], hash=key[2],
                           **record)
                if rec.get('status') not in ('ok', 'failed'):
                    raise ValueError(f"'status' must be 'ok' or 'failed' "
                                     f"(got {rec.get('status')!r})")
                row = con.execute(
                    'SELECT status FROM answers WHERE node_type = ? AND '
                    'node_id = ? AND hash = ?', key).fetchone()
                if row is not None and row[0] == 'ok':
                    if rec['status'] == 'ok':
                        raise ValueError(f"The cache '{self.path}' already "
                                         f"holds an answer for {key}")
                else:
                    con.execute('INSERT OR REPLACE INTO answers VALUES '
                                '(?, ?, ?, ?, ?)', (*key, rec['status'],
                                                    json.dumps(
                                                        rec,
                                                        ensure_ascii=False)))
                out.append(rec)
        except BaseException:
            con.execute('ROLLBACK')
            raise
        con.execute('COMMIT')
        return out

    def _import_legacy(self) -> None:
        r"""Imports :obj:`profiles.jsonl` of earlier versions into
        :obj:`profiles.sqlite` once (the JSONL file is left as it is)."""
        legacy = osp.join(self.folder, LEGACY)
        if not osp.isfile(legacy):
            return
        main = self._con if self.path.endswith(MAIN) else _connect(
            osp.join(self.folder, MAIN))
        try:
            main.execute('BEGIN IMMEDIATE')
            done = main.execute('SELECT 1 FROM imported WHERE source = ?',
                                (LEGACY, )).fetchone()
            if done:
                main.execute('ROLLBACK')
                return
            with open(legacy, 'rb') as f:
                raw = f.read()
            records, bad, end = scan(raw)
            for rec in records:  # In file order: a later failure never
                key = self.key(rec['node_type'], rec['node_id'],  # wins.
                               rec['hash'])
                row = main.execute(
                    'SELECT status FROM answers WHERE node_type = ? AND '
                    'node_id = ? AND hash = ?', key).fetchone()
                if row is None or row[0] != 'ok':
                    main.execute('INSERT OR REPLACE INTO answers VALUES '
                                 '(?, ?, ?, ?, ?)',
                                 (*key, rec['status'], json.dumps(
                                     rec, ensure_ascii=False)))
            main.execute('INSERT INTO imported VALUES (?, ?, ?)',
                         (LEGACY, len(raw), len(records)))
            main.execute('COMMIT')
        finally:
            if main is not self._con:
                main.close()
        skipped = [f'{legacy}:{n} ({why})' for n, _, why in bad[:_MAX_NAMED]]
        if end < len(raw):
            cut = raw[:end].count(b'\n') + 1
            skipped.append(f'{legacy}:{cut} (cut short)')
        log.info(f"Imported {len(records)} records of '{legacy}' into "
                 f"'{osp.join(self.folder, MAIN)}'")
        if skipped:
            more = len(bad) - _MAX_NAMED
            log.warning(f"Skipped lines of '{legacy}' that are not records: "
                        f"{', '.join(skipped)}"
                        f"{f' and {more} more' if more > 0 else ''}; their "
                        f"answers are asked again")

    @contextlib.contextmanager
    def locked(self) -> Iterator['ProfileCache']:
        r"""Holds an exclusive lock on :obj:`<path>.lock` (released by the
        OS if the process dies), so that two runs never write the same
        shard (and ask for the same answers) at once."""
        with open(self.path + '.lock', 'w') as f:
            if fcntl is not None:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise RuntimeError(f"The cache '{self.path}' is in use by "
                                       f"another process") from None
            try:
                yield self
            finally:
                if fcntl is not None:
                    fcntl.flock(f, fcntl.LOCK_UN)

    def close(self) -> None:
        r"""Closes the database connections."""
        for con in [self._con, *self._others.values()]:
            con.close()
        self._others.clear()

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.path!r})'
