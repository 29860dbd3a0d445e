r"""Streaming readers of raw dumps: CSV / TSV, Parquet and JSON lines (strict
JSON, or the Python-literal lines of the 2014 Amazon metadata and the Steam
dumps), plain or compressed (``.gz``, ``.bz2``).

:func:`iter_columns` yields only the requested fields, typed, in batches
(`pyarrow <https://arrow.apache.org/docs/python/>`_'s streaming CSV, JSON
and Parquet readers), so memory follows the kept columns and not the size
of the file; Python-literal lines, which no columnar reader parses, go
through :func:`ast.literal_eval` line by line (slower, same output).
:func:`iter_records` yields whole records as Python values, for the item
metadata whose fields change type from record to record.
"""
import ast
import bz2
import gzip
import io
import json
import os
import os.path as osp
from typing import Any, Callable, Dict, Iterator, List, Optional

FORMATS = ('csv', 'tsv', 'parquet', 'json', 'pyjson')
_SUFFIXES = {'.csv': 'csv', '.tsv': 'tsv', '.parquet': 'parquet',
             '.pq': 'parquet', '.json': 'json', '.jsonl': 'json',
             '.ndjson': 'json'}
_COMPRESSED = {'.gz': gzip.open, '.bz2': bz2.open}


def require_pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("Reading raw dumps needs pyarrow: pip install "
                          "'rlmrec_pyg[datasets]' (or pip install "
                          "pyarrow)") from e
    return pyarrow


def open_text(path: str) -> io.TextIOBase:
    r"""Opens :obj:`path` as UTF-8 text, decompressing ``.gz`` / ``.bz2``."""
    opener = _COMPRESSED.get(osp.splitext(path)[1].lower())
    if opener is not None:
        return opener(path, 'rt', encoding='utf-8')
    return open(path, encoding='utf-8')


def _parse_python(line: str) -> Any:
    return ast.literal_eval(line)


def file_format(path: str, what: str = 'file') -> str:
    r"""Returns the format of :obj:`path` from its suffix (before a
    compression suffix): one of :obj:`FORMATS`. JSON lines are
    :obj:`"pyjson"` when their first record is a Python literal (single
    quotes) rather than JSON."""
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f"The {what} '{path}' does not exist")
    stem = path
    if osp.splitext(stem)[1].lower() in _COMPRESSED:
        stem = osp.splitext(stem)[0]
    fmt = _SUFFIXES.get(osp.splitext(stem)[1].lower())
    if fmt is None:
        raise ValueError(f"The {what} '{path}' must end in one of "
                         f"{', '.join(sorted(_SUFFIXES))} (optionally "
                         f"followed by .gz or .bz2)")
    if fmt != 'json':
        return fmt
    with open_text(path) as f:
        for line in f:
            if line.strip():
                try:
                    json.loads(line)
                    return 'json'
                except ValueError:
                    try:
                        _parse_python(line)
                    except (ValueError, SyntaxError) as e:
                        raise ValueError(
                            f"The {what} '{path}' starts with a line that is "
                            f"neither JSON nor a Python literal ({e})")
                    return 'pyjson'
    return 'json'


def _python_lines(path: str, what: str,
                  parse: Callable[[str], Any]) -> Iterator[Dict[str, Any]]:
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = parse(line)
            except (ValueError, SyntaxError) as e:
                raise ValueError(f"The {what} '{path}', line {lineno}: not a "
                                 f"record ({type(e).__name__}: {e})") from None
            if not isinstance(record, dict):
                raise ValueError(f"The {what} '{path}', line {lineno}: "
                                 f"expected an object with named fields "
                                 f"(got {type(record).__name__})")
            yield record


def _to_column(values: List[Any], type_: Any, field: str, what: str,
               path: str) -> Any:
    pa = require_pyarrow()
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        values = [None if v is None else str(v) for v in values]
    try:
        return pa.array(values, type=type_)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as e:
        raise ValueError(f"The {what} '{path}', field '{field}': expected "
                         f"{type_} values ({e})") from None


def _batches_python(path: str, columns: Dict[str, Any], what: str,
                    batch_rows: int, parse: Callable[[str], Any],
                    skip: int = 0) -> Iterator:
    pa = require_pyarrow()
    values: Dict[str, List[Any]] = {c: [] for c in columns}
    count = 0

    def flush() -> Any:
        return pa.table({c: _to_column(values[c], t, c, what, path)
                         for c, t in columns.items()})

    for k, record in enumerate(_python_lines(path, what, parse)):
        if k < skip:
            continue
        for c in columns:
            values[c].append(record.get(c))
        count += 1
        if count == batch_rows:
            yield flush()
            values = {c: [] for c in columns}
            count = 0
    if count:
        yield flush()


def _batches_json(path: str, columns: Dict[str, Any], what: str,
                  batch_rows: int) -> Iterator:
    r"""pyarrow's streaming JSON reader; on a value of another JSON type
    than :obj:`columns` says (e.g. numeric ids read as strings), the rest
    of the file goes through :func:`json.loads` line by line, which
    converts; on malformed JSON, the first bad line is named."""
    pa = require_pyarrow()
    from pyarrow import json as pa_json
    done = 0
    try:
        reader = pa_json.open_json(
            path, read_options=pa_json.ReadOptions(block_size=16 << 20),
            parse_options=pa_json.ParseOptions(
                explicit_schema=pa.schema(list(columns.items())),
                unexpected_field_behavior='ignore'))
        for batch in reader:
            done += batch.num_rows
            yield pa.Table.from_batches([batch]).select(list(columns))
        return
    except pa.ArrowInvalid as e:
        if 'changed from' not in str(e):
            for _ in _python_lines(path, what, json.loads):
                pass  # raises naming the first malformed line
    # Values of another JSON type than asked (numeric ids, float times):
    # Python parsing, which converts, from the first record not yet yielded.
    batches = _batches_python(path, columns, what, batch_rows, json.loads,
                              skip=done)
    yield from batches


def _batches_csv(path: str, columns: Dict[str, Any], what: str,
                 delimiter: str) -> Iterator:
    pa = require_pyarrow()
    from pyarrow import csv as pa_csv
    try:
        reader = pa_csv.open_csv(
            path, read_options=pa_csv.ReadOptions(block_size=16 << 20),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter,
                                              newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                include_columns=list(columns), column_types=columns,
                strings_can_be_null=True))
    except (pa.ArrowInvalid, KeyError) as e:
        raise ValueError(f"The {what} '{path}': {e} (expected columns "
                         f"{list(columns)})") from None
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as e:
            raise ValueError(f"The {what} '{path}': {e}") from None
        yield pa.Table.from_batches([batch])


def _batches_parquet(path: str, columns: Dict[str, Any], what: str,
                     batch_rows: int) -> Iterator:
    pa = require_pyarrow()
    import pyarrow.parquet as pq
    file = pq.ParquetFile(path)
    names = file.schema_arrow.names
    missing = [c for c in columns if c not in names]
    if missing:
        raise ValueError(f"The {what} '{path}' has no column "
                         f"{', '.join(map(repr, missing))} (columns: "
                         f"{names})")
    for batch in file.iter_batches(batch_size=batch_rows,
                                   columns=list(columns)):
        table = pa.Table.from_batches([batch])
        for name, type_ in columns.items():
            have = table.schema.field(name).type
            if pa.types.is_integer(type_) and (pa.types.is_timestamp(have)
                                               or pa.types.is_date(have)):
                # Times as seconds since the epoch (not ns, not days).
                col = table[name].cast(pa.timestamp('s')).cast(pa.int64())
                table = table.set_column(table.schema.get_field_index(name),
                                         name, col)
        try:
            yield table.cast(pa.schema(list(columns.items())))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            raise ValueError(f"The {what} '{path}': {e}") from None


def iter_columns(path: str, columns: Dict[str, Any],
                 what: str = 'interactions file',
                 batch_rows: int = 1 << 16,
                 fmt: Optional[str] = None) -> Iterator:
    r"""Yields :class:`pyarrow.Table` batches holding exactly the fields
    :obj:`columns` (name → :mod:`pyarrow` type) of the records of
    :obj:`path`, in file order; a field a record lacks is null. Row
    :obj:`k` of the concatenated batches is the :obj:`k`-th record of the
    file (blank lines are not records), identically for every choice of
    :obj:`columns`, so that a second pass can fetch other fields of
    chosen records."""
    path = os.fspath(path)
    fmt = fmt or file_format(path, what)
    if fmt == 'parquet':
        return _batches_parquet(path, columns, what, batch_rows)
    if fmt in ('csv', 'tsv'):
        return _batches_csv(path, columns, what,
                            ',' if fmt == 'csv' else '\t')
    if fmt == 'json':
        return _batches_json(path, columns, what, batch_rows)
    return _batches_python(path, columns, what, batch_rows, _parse_python)


def iter_records(path: str, fields: List[str],
                 what: str = 'metadata file') -> Iterator[Dict[str, Any]]:
    r"""Yields every record of :obj:`path` as a dictionary of the
    :obj:`fields` it has, with Python values (strings, numbers, lists)."""
    path = os.fspath(path)
    fmt = file_format(path, what)
    if fmt in ('json', 'pyjson'):
        parse = json.loads if fmt == 'json' else _parse_python
        for record in _python_lines(path, what, parse):
            yield {k: record[k] for k in fields if k in record}
        return
    pa = require_pyarrow()
    if fmt == 'parquet':
        import pyarrow.parquet as pq
        file = pq.ParquetFile(path)
        have = [c for c in fields if c in file.schema_arrow.names]
        batches = (pa.Table.from_batches([b])
                   for b in file.iter_batches(columns=have))
    else:
        from pyarrow import csv as pa_csv
        header = pa_csv.open_csv(path, parse_options=pa_csv.ParseOptions(
            delimiter=',' if fmt == 'csv' else '\t')).schema.names
        have = [c for c in fields if c in header]
        batches = (pa.Table.from_batches([b]) for b in pa_csv.open_csv(
            path, parse_options=pa_csv.ParseOptions(
                delimiter=',' if fmt == 'csv' else '\t',
                newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                include_columns=have,
                column_types={c: pa.string() for c in have})))
    for table in batches:
        yield from table.to_pylist()
