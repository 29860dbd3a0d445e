r"""Shared helpers of the tests that no API key reaches an output."""
import os
import traceback
from typing import Iterable, List, Sequence

from fake_openai_server import masked

#: The tail every sentinel ends with: what a masked echo keeps.
TAIL = 'QZXW'


def sentinel(tag: str, prefix: str = 'sk-') -> str:
    r"""A made-up key, built at run time (no key-like literal in the
    source): :obj:`prefix` (``sk-`` for an OpenAI-shaped key, anything
    else for a plain token as vLLM servers take), :obj:`tag` and
    :obj:`TAIL`."""
    return prefix + 'SENTINEL' + tag.upper() + '7c2e9a41b6' + TAIL


def fragments(key: str) -> List[str]:
    r"""What must not appear anywhere: the key without its prefix, its
    masked copy (as the fake server echoes it) and either half of the
    masked copy."""
    mask = masked(key)
    return [key[3:], mask, mask[3:mask.index('*') + 3],
            mask[mask.index('*'):]]


def exception_texts(error: BaseException) -> List[str]:
    r"""The text, the repr and the formatted traceback (with any chained
    exception) of :obj:`error`."""
    return [
        str(error),
        repr(error),
        ''.join(traceback.format_exception(type(error), error,
                                           error.__traceback__))
    ]


def assert_no_key(texts: Iterable[str], folders: Iterable[str],
                  keys: Sequence[str]) -> int:
    r"""Asserts that no fragment of :obj:`keys` is in :obj:`texts` or in a
    file under :obj:`folders`; returns the number of files read."""
    parts = [p for key in keys for p in fragments(key)]
    for text in texts:
        for part in parts:
            assert part not in text, f'{part!r} leaked into: {text[:2000]}'
    count = 0
    for folder in folders:
        for root, _, files in os.walk(folder):
            for name in files:
                path = os.path.join(root, name)
                with open(path, 'rb') as f:
                    content = f.read()
                count += 1
                for part in parts:
                    assert part.encode() not in content, (part, path)
    return count
