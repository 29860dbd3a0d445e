r"""Reading a user's tables (CSV files or pandas DataFrames) as columns of
strings, with one clear error per problem naming the source, the row as a
spreadsheet shows it (the header is row 1) and the column; id
normalisation; ratings and timestamps parsed and checked."""
import codecs
import csv
import io
import logging
import os
import os.path as osp
import re
from typing import (
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Tuple,
    Union,
)

import numpy as np
from torch_geometric.data import HeteroData

from rlmrec_pyg.typing import RAW_ID

log = logging.getLogger(__name__)

Table = Union[str, Any]  # a CSV path (str or os.PathLike) or a DataFrame

#: The modes of :obj:`InteractionCSV(id_normalization=...)`.
ID_NORMALIZATIONS = ('strip', 'none', 'numeric')

_INT = re.compile(r'[+-]?[0-9]+')


class Frame(NamedTuple):
    r"""A table as columns of strings (:obj:`''` for a missing cell)."""
    source: str  # "'interactions' file 'r.csv'" or "DataFrame 'interactions'"
    columns: Dict[str, List[str]]
    rows: List[int]  # the row of every data row as a spreadsheet shows it
    index: Optional[List[Any]] = None  # a DataFrame's index labels


def _row(frame: Frame, pos: int) -> str:
    out = f'row {frame.rows[pos]}'
    if frame.index is not None:
        out += f' (index {frame.index[pos]!r})'
    return out


def _where(frame: Frame, pos: int, col: str) -> str:
    return f"{frame.source}, {_row(frame, pos)}, column '{col}'"


def _is_frame(table: Any) -> bool:
    return hasattr(table, 'columns') and hasattr(table, 'to_dict')


def table_source(table: Table, name: str) -> str:
    if _is_frame(table):
        return f"DataFrame '{name}'"
    return f"'{name}' file '{os.fspath(table)}'"


def _decode(path: str, name: str) -> str:
    r"""Returns the text of the UTF-8 file :obj:`path` (a leading byte-order
    mark is dropped); names the first byte that is not UTF-8."""
    with open(path, 'rb') as f:
        raw = f.read()
    try:
        return raw.decode('utf-8-sig')
    except UnicodeDecodeError as e:
        # 'utf-8-sig' counts from after the byte-order mark.
        off = e.start + (len(codecs.BOM_UTF8)
                         if raw.startswith(codecs.BOM_UTF8) else 0)
        line = raw.count(b'\n', 0, off) + 1
        raise ValueError(
            f"'{name}' file '{path}' is not UTF-8 text: byte {off} (line "
            f"{line}) is {raw[off:off + 1]!r} ({e.reason}); save it as "
            f"UTF-8 (in a spreadsheet: 'CSV UTF-8')") from None


def _records(text: Iterable[str],
             source: str) -> Iterator[Tuple[int, List[str]]]:
    r"""Yields the spreadsheet row number and the cells of every record that
    holds a non-blank cell."""
    reader = csv.reader(text)
    try:
        for row, cells in enumerate(reader, start=1):
            if any(c.strip() for c in cells):
                yield row, cells
    except csv.Error as e:
        raise ValueError(f"{source}: could not parse line "
                         f"{reader.line_num} as CSV ({e})") from None


def _check_header(header: List[str], source: str) -> None:
    seen: Dict[str, int] = {}
    for col, name in enumerate(header, start=1):
        if seen.setdefault(name, col) != col:
            raise ValueError(f"{source} names the column {name!r} twice "
                             f"(columns {seen[name]} and {col}); column "
                             f"names must be unique")


def _frame_header(table: Any, name: str) -> List[str]:
    header = [str(k) for k in table.columns]
    _check_header(header, f"DataFrame '{name}'")
    return header


def _file_header(path: str, name: str) -> List[str]:
    source = table_source(path, name)
    if not osp.isfile(path):
        raise ValueError(f"{source} does not exist")
    try:
        with open(path, newline='', encoding='utf-8-sig') as f:
            for _, header in _records(f, source):
                _check_header(header, source)
                return header
    except UnicodeDecodeError:
        _decode(path, name)  # Raises, naming the byte and the line.
        raise
    raise ValueError(f"{source} is empty (expected a header row with the "
                     f"column names)")


def table_header(table: Table, name: str) -> List[str]:
    r"""Returns the column names of :obj:`table` after checking its type
    (and, for a path, that the file exists and starts as UTF-8 CSV)."""
    if _is_frame(table):
        return _frame_header(table, name)
    if isinstance(table, (str, os.PathLike)):
        return _file_header(os.fspath(table), name)
    raise TypeError(f"'{name}' must be a CSV path or a pandas.DataFrame "
                    f"(got {type(table).__name__})")


def need_column(header: List[str], col: str, source: str) -> None:
    if col not in header:
        raise ValueError(f"Column '{col}' not found in {source} (columns: "
                         f"{header})")


def _read_file(path: str, name: str) -> Frame:
    source = table_source(path, name)
    header: Optional[List[str]] = None
    body, rows = [], []
    for row, cells in _records(io.StringIO(_decode(path, name), newline=''),
                               source):
        if header is None:
            header = cells
            _check_header(header, source)
        elif len(cells) != len(header):
            raise ValueError(f"{source}: row {row} has {len(cells)} cells, "
                             f"the header has {len(header)}")
        else:
            body.append(cells)
            rows.append(row)
    if header is None:
        raise ValueError(f"{source} is empty (expected a header row with "
                         f"the column names)")
    columns = {k: list(v) for k, v in zip(header, zip(*body))} if body \
        else {k: [] for k in header}
    return Frame(source, columns, rows)


def _read_frame(table: Any, name: str) -> Frame:
    columns: Dict[str, List[str]] = {}
    for key, name_ in zip(table.columns, _frame_header(table, name)):
        series = table[key]
        columns[name_] = ['' if missing else str(v) for v, missing in
                          zip(series.tolist(), series.isna().tolist())]
    index = table.index
    index = index.tolist() if hasattr(index, 'tolist') else list(index)
    return Frame(f"DataFrame '{name}'", columns,
                 list(range(2, len(index) + 2)), index)


def read_table(table: Table, name: str) -> Frame:
    r"""Reads :obj:`table` (a CSV path or a DataFrame) into strings."""
    if _is_frame(table):
        frame = _read_frame(table, name)
    else:
        frame = _read_file(os.fspath(table), name)
    if not frame.rows:
        raise ValueError(f"{frame.source} has no data rows (only a header)")
    return frame


def parse_ids(frame: Frame, col: str, mode: str) -> List[Any]:
    r"""Returns the ids of column :obj:`col` normalised as :obj:`mode`
    says (see :class:`InteractionCSV`)."""
    cells = frame.columns[col]
    ids = cells if mode == 'none' else [c.strip() for c in cells]
    if mode == 'numeric':
        bad = next((i for i, v in enumerate(ids) if not _INT.fullmatch(v)),
                   None)
    else:
        bad = ids.index('') if '' in ids else None
    if bad is None:
        return [int(v) for v in ids] if mode == 'numeric' else ids
    where, raw = _where(frame, bad, col), cells[bad]
    if not ids[bad]:
        after = f" (empty after id_normalization={mode!r})" if raw else ''
        raise ValueError(f"{where}: expected a non-empty id, got "
                         f"{raw!r}{after}")
    raise ValueError(f"{where}: expected an integer id (as "
                     f"id_normalization='numeric'), got {raw!r}")


def warn_integer_twins(ids: Iterable[str], kind: str, col: str) -> None:
    r"""Logs one warning when two distinct ids are equal as integers
    (:obj:`"007"` and :obj:`"7"`)."""
    first: Dict[int, str] = {}
    for v in sorted(set(ids)):
        if _INT.fullmatch(v) and first.setdefault(int(v), v) != v:
            log.warning(f"The {kind} ids {first[int(v)]!r} and {v!r} (column "
                        f"'{col}') are equal as integers but kept as two "
                        f"{kind}s "
                        f"(id_normalization='strip'); pass "
                        f"id_normalization='numeric' to read ids as "
                        f"integers")
            return


def _cell_text(cell: str) -> str:
    return 'an empty cell' if not cell.strip() else repr(cell)


def parse_ratings(frame: Frame, col: str,
                  min_rating: Optional[float]) -> np.ndarray:
    r"""Returns the ratings of column :obj:`col`: finite numbers, and not
    negative unless :obj:`min_rating` filters them."""
    cells = frame.columns[col]
    try:
        rating = np.asarray(cells).astype(np.float64)
    except ValueError:
        rating = np.empty(len(cells))
        for pos, cell in enumerate(cells):
            try:
                rating[pos] = float(cell)
            except ValueError:
                raise ValueError(f"{_where(frame, pos, col)}: expected a "
                                 f"number (the rating), got "
                                 f"{_cell_text(cell)}") from None
    bad = np.flatnonzero(~np.isfinite(rating))
    if bad.size > 0:
        pos = int(bad[0])
        raise ValueError(f"{_where(frame, pos, col)}: expected a finite "
                         f"rating, got {cells[pos]!r}")
    neg = np.flatnonzero(rating < 0)
    if min_rating is None and neg.size > 0:
        pos = int(neg[0])
        raise ValueError(
            f"{_where(frame, pos, col)}: the rating {cells[pos]!r} is "
            f"negative ({neg.size} row(s) are) and would count as a positive "
            f"interaction, as 'min_rating' is None; set 'min_rating' (e.g., "
            f"min_rating=0) to drop low ratings")
    return rating


def _integer(cell: str) -> Optional[int]:
    cell = cell.strip()
    if _INT.fullmatch(cell):
        value = int(cell)
    else:
        try:
            number = float(cell)
        except ValueError:
            return None
        if not number.is_integer():
            return None
        value = int(number)
    return value if -2**63 <= value < 2**63 else None


def parse_times(frame: Frame, col: str) -> List[int]:
    r"""Returns the integer (64-bit) timestamps of column :obj:`col`; an
    integral decimal such as :obj:`"100.0"` is accepted."""
    cells = frame.columns[col]
    try:
        return np.asarray(cells).astype(np.int64).tolist()
    except (ValueError, OverflowError):
        pass
    out = []
    for pos, cell in enumerate(cells):
        value = _integer(cell)
        if value is None:
            raise ValueError(f"{_where(frame, pos, col)}: expected an "
                             f"integer (64-bit) timestamp, got "
                             f"{_cell_text(cell)}")
        out.append(value)
    return out


def row_of_ids(frame: Frame, col: str, ids: List[Any]) -> Dict[str, int]:
    r"""Maps every id of a text table to its row; an id twice is an
    error."""
    row_of: Dict[str, int] = {}
    for pos, key in enumerate(map(str, ids)):
        if row_of.setdefault(key, pos) != pos:
            raise ValueError(
                f"{frame.source}, column '{col}': {_row(frame, row_of[key])} "
                f"and {_row(frame, pos)} hold the same id {key!r}; keep one "
                f"row per id")
    return row_of


def attach_columns(data: HeteroData, node_type: str, frame: Frame,
                   id_col: str, row_of: Dict[str, int]) -> None:
    for key, values in frame.columns.items():
        if key == id_col:
            continue
        data[node_type][key] = [
            values[row_of[r]] if r in row_of else ''
            for r in data[node_type][RAW_ID]
        ]
