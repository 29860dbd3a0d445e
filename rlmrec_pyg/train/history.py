r"""A CSV log of training: one row per validation of
:class:`~rlmrec_pyg.train.Trainer` (epoch, training loss, validation
Recall/NDCG at the selecting :math:`K`, elapsed seconds, improved)."""
import csv
import logging
import re
from contextlib import contextmanager
from typing import IO, Iterator, List, Optional

#: The Trainer's per-validation log line, *e.g.*
#: ``Epoch    3 loss 0.8160 val recall@20 0.0608 ndcg@20 0.0638 (41s) *``.
LINE = re.compile(r'^Epoch\s+(?P<epoch>\d+) loss (?P<loss>\S+) val '
                  r'(?P<recall_key>recall@\d+) (?P<recall>\S+) '
                  r'(?P<ndcg_key>ndcg@\d+) (?P<ndcg>\S+)'
                  r'(?: \((?P<seconds>[\d.]+)s\))?(?P<improved> \*)?$')


class CSVHistory(logging.Handler):
    r"""A :class:`logging.Handler` on the trainer's logger that writes each
    validation line as a CSV row to :obj:`path` (flushed per row, so a
    killed run keeps its history).

    Args:
        path (str): The CSV file (overwritten).
    """
    def __init__(self, path: str) -> None:
        super().__init__(level=logging.INFO)
        self.path = path
        self._file: IO[str] = open(path, 'w', newline='')
        self._writer = csv.writer(self._file)
        self._header: Optional[List[str]] = None

    def emit(self, record: logging.LogRecord) -> None:
        match = LINE.match(record.getMessage())
        if match is None:
            return
        g = match.groupdict()
        if self._header is None:
            self._header = [
                'epoch', 'loss', f"val/{g['recall_key']}",
                f"val/{g['ndcg_key']}", 'seconds', 'improved'
            ]
            self._writer.writerow(self._header)
        self._writer.writerow([
            int(g['epoch']),
            float(g['loss']),
            float(g['recall']),
            float(g['ndcg']), g['seconds'] or '',
            int(bool(g['improved']))
        ])
        self._file.flush()

    def close(self) -> None:
        self._file.close()
        super().close()


@contextmanager
def csv_history(path: str,
                logger: str = 'rlmrec_pyg.train.trainer') -> Iterator[None]:
    r"""Writes the validation history of the :class:`Trainer` runs inside
    the block to :obj:`path`.

    .. code-block:: python

        with csv_history('history.csv'):
            trainer.fit(model, embedding, data, optimizer)
    """
    handler = CSVHistory(path)
    log = logging.getLogger(logger)
    level = log.level
    if not log.isEnabledFor(logging.INFO):
        log.setLevel(logging.INFO)
    log.addHandler(handler)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
        handler.close()
