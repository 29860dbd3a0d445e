import os

import torch

from rlmrec_pyg.semantic import CachedEncoder, HashTextEncoder
from rlmrec_pyg.semantic.cache import safe_name


def test_vectors_are_cached_by_encoder_and_text(tmp_path):
    inner = HashTextEncoder(8)
    encoder = CachedEncoder(inner, str(tmp_path), chunk_size=2)
    out = encoder.encode(['a', 'b', 'a', 'c'])
    assert torch.equal(out, inner.encode(['a', 'b', 'a', 'c']))
    assert inner.num_calls == 3  # Two chunks of unseen texts, + the check.
    shards = os.listdir(encoder.root)
    assert len(shards) == 2 and all(s.endswith('.pt') for s in shards)

    fresh = HashTextEncoder(8)
    again = CachedEncoder(fresh, str(tmp_path)).encode(['c', 'a', 'd'])
    assert fresh.num_calls == 1  # Only 'd' is new.
    assert torch.equal(again, HashTextEncoder(8).encode(['c', 'a', 'd']))
    other = CachedEncoder(HashTextEncoder(8, seed=3), str(tmp_path))
    assert other.root != encoder.root


def test_safe_name():
    name = safe_name('/some/path/to/all-MiniLM-L6-v2/')
    assert '/' not in name and name.startswith('_some_path')
    assert safe_name('a/b') != safe_name('a_b')
