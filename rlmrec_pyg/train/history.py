r"""A CSV log of training: one row per epoch (the mean loss and the mean of
every loss term, the validation metrics at the selecting :math:`K` when
the epoch was validated, elapsed seconds, whether it improved)."""
import csv
import os
import os.path as osp
from typing import IO, Any, Dict, List, Optional


class CSVHistory:
    r"""Appends rows to :obj:`path` (overwritten on creation), flushed per
    row so that a killed run keeps its history. The first row's keys are
    the header; a later row may leave a column empty but not add one.

    Args:
        path (str): The CSV file.
    """
    def __init__(self, path: str) -> None:
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        self.path = path
        self._file: IO[str] = open(path, 'w', newline='', encoding='utf-8')
        self._writer = csv.writer(self._file)
        self._header: Optional[List[str]] = None

    def write(self, row: Dict[str, Any]) -> None:
        r"""Writes one row (its keys must be among the header's)."""
        if self._header is None:
            self._header = list(row)
            self._writer.writerow(self._header)
        extra = [key for key in row if key not in self._header]
        if extra:
            raise ValueError(f"Columns {extra} are not in the header "
                             f"{self._header} of '{self.path}'")
        self._writer.writerow([row.get(key, '') for key in self._header])
        self._file.flush()

    def close(self) -> None:
        r"""Closes the file."""
        self._file.close()

    def __enter__(self) -> 'CSVHistory':
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()
