r"""Plumbing of the LLM requests: which HTTP errors are retried, the
``Retry-After`` header, and running a coroutine from synchronous code."""
import asyncio
import threading
from typing import Any, Coroutine, List, Optional

#: Retried besides 5xx, timeouts, connection errors and unparseable answers.
RETRY_STATUS = (408, 409, 429)
#: Configuration errors: retrying cannot help, the run stops.
FATAL_STATUS = (401, 403, 404)


def retry_after(headers: Any) -> Optional[float]:
    r"""Seconds a server asks to wait (``retry-after-ms`` or
    ``retry-after``), if it says so."""
    for name, scale in (('retry-after-ms', 1e-3), ('retry-after', 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return float(value) * scale
        except ValueError:
            continue
    return None


def run_sync(coro: Coroutine[Any, Any, None]) -> None:
    r"""Runs :obj:`coro`, in a thread when an event loop already runs
    (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    errors: List[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro)
        except BaseException as e:  # Re-raised in the caller.
            errors.append(e)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
