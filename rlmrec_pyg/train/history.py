r"""A CSV log of training: one row per epoch (the mean loss and the mean of
every loss term, the validation metrics at the selecting :math:`K` when
the epoch was validated, elapsed seconds, whether it improved)."""
import csv
import logging
import os
import os.path as osp
from typing import IO, Any, Dict, List, Optional

from rlmrec_pyg.io import atomic_write

log = logging.getLogger(__name__)


class CSVHistory:
    r"""Writes one row per epoch to :obj:`path`, flushed per row so that a
    killed run keeps its history. The file is created at the first row
    (a run refused before its first epoch leaves none); the first row's
    keys are the header, and a later row may leave a column empty but not
    add one.

    Args:
        path (str): The CSV file.
        resume_after (int, optional): A resumed run: the rows of epochs up
            to this one are kept from the existing file (the later ones
            are trained again); :obj:`None` starts a new file.
            (default: :obj:`None`)
    """
    def __init__(self, path: str, resume_after: Optional[int] = None) -> None:
        self.path = path
        self.resume_after = resume_after
        self._file: Optional[IO[str]] = None
        self._header: Optional[List[str]] = None

    def _kept_rows(self, header: List[str]) -> List[List[str]]:
        # The rows of the epochs before the resumed one, when the file has
        # the same columns.
        if self.resume_after is None or not osp.isfile(self.path):
            return []
        with open(self.path, newline='', encoding='utf-8') as f:
            rows = list(csv.reader(f))
        if not rows or rows[0] != header:
            log.warning(f"'{self.path}' has other columns than this run "
                        f"({rows[0] if rows else []} vs {header}): its rows "
                        f"are replaced")
            return []
        epoch = header.index('epoch')
        return [r for r in rows[1:]
                if r and r[epoch].isdigit()
                and int(r[epoch]) <= self.resume_after]

    def _open(self, header: List[str]) -> None:
        os.makedirs(osp.dirname(osp.abspath(self.path)), exist_ok=True)
        kept = self._kept_rows(header) if 'epoch' in header else []
        atomic_write(self.path,
                     lambda f: csv.writer(f).writerows([header, *kept]),
                     'w')
        self._file = open(self.path, 'a', newline='', encoding='utf-8')
        self._header = header

    def write(self, row: Dict[str, Any]) -> None:
        r"""Writes one row (its keys must be among the header's)."""
        if self._file is None:
            self._open(list(row))
        assert self._file is not None and self._header is not None
        extra = [key for key in row if key not in self._header]
        if extra:
            raise ValueError(f"Columns {extra} are not in the header "
                             f"{self._header} of '{self.path}'")
        csv.writer(self._file).writerow(
            [row.get(key, '') for key in self._header])
        self._file.flush()

    def close(self) -> None:
        r"""Closes the file."""
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> 'CSVHistory':
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()
