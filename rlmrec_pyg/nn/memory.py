r"""Whether a dense score matrix fits: the paper's all-user (RLMRec-Con)
and all-masked (RLMRec-Gen) losses score every anchor against every
candidate, which stops fitting as the catalogue grows. The check refuses
such a step before it is allocated, so the caller can name its bounded
option instead of the process dying."""
import os
from typing import Optional

import torch

#: Score matrices below this many bytes are not checked (no cost per step).
CHECK_FROM_BYTES = 1 << 30
#: The forward scores, their softmax and its gradient live at once.
LIVE_COPIES = 3


class ScoreMatrixTooLarge(MemoryError):
    r"""A dense :obj:`[rows, cols]` score matrix (with its gradient) would
    not fit in the memory of its device."""
    def __init__(self, rows: int, cols: int, needed: int,
                 available: int, device: torch.device,
                 what: str = 'A', advice: str = '') -> None:
        self.rows, self.cols = rows, cols
        self.needed, self.available = needed, available
        self.device = device
        super().__init__(
            f"{what} {rows} x {cols} score matrix needs about "
            f"{needed / 2**30:.1f} GiB with its gradient, but {device} has "
            f"{available / 2**30:.1f} GiB available" +
            (f": {advice}" if advice else ''))

    def explained(self, what: str, advice: str) -> 'ScoreMatrixTooLarge':
        r"""The same error, saying whose matrix it is and what to do."""
        return ScoreMatrixTooLarge(self.rows, self.cols, self.needed,
                                   self.available, self.device, what, advice)


def available_memory(device: torch.device) -> Optional[int]:
    r"""Bytes free on a CUDA :obj:`device`, or the host's available memory
    (Linux ``MemAvailable``, else free physical pages); :obj:`None` if
    unknown."""
    if device.type == 'cuda':
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf('SC_AVPHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
    except (ValueError, OSError, AttributeError):
        return None


def check_score_matrix(rows: int, cols: int, dtype: torch.dtype,
                       device: torch.device) -> None:
    r"""Raises :class:`ScoreMatrixTooLarge` when :math:`3 \cdot` a
    :obj:`[rows, cols]` matrix of :obj:`dtype` exceeds the memory available
    on :obj:`device` (matrices under 1 GiB are not checked)."""
    size = rows * cols * torch.finfo(dtype).bits // 8
    if size < CHECK_FROM_BYTES:
        return
    available = available_memory(device)
    needed = LIVE_COPIES * size
    if available is not None and needed > available:
        raise ScoreMatrixTooLarge(rows, cols, needed, available, device)
