r"""The C allocator behind PyTorch's CPU tensors, tuned for full-graph
epochs over large catalogues.

glibc's ``malloc`` serves every block over 32 MiB with a fresh ``mmap``
and unmaps it at ``free`` (its dynamic threshold stops at 32 MiB on 64-bit
systems), so once a catalogue's tensors outgrow that size every training
step faults all of their pages in again (measured on LightGCN at
:math:`10^7` interactions: docs/scaling.md). :func:`retain_freed_memory`
turns that off for the process, as ``MALLOC_MMAP_MAX_=0
MALLOC_TRIM_THRESHOLD_=...`` would at start-up: blocks come from the heap
and freed memory is kept for the next step. The price is a peak RSS that
stays at its high-water mark."""
import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

#: glibc's ``mallopt`` parameters (``malloc.h``).
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4


def retain_freed_memory() -> bool:
    r"""Makes glibc's ``malloc`` serve every block from its heap
    (``mallopt(M_MMAP_MAX, 0)``) and never give freed memory back to the
    system (``mallopt(M_TRIM_THRESHOLD, -1)``) for the rest of the process,
    and returns :obj:`True`; returns :obj:`False` and changes nothing where
    the C library is not glibc (macOS, musl, Windows)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        libc.gnu_get_libc_version  # glibc only
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        log.warning("'retain_freed_memory' needs glibc's malloc; the "
                    "allocator is left as it is")
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], \
        ctypes.c_int
    ok = mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, -1) == 1
    if ok:
        log.info("glibc malloc: large blocks from the heap, freed memory "
                 "kept (retain_freed_memory)")
    return ok
