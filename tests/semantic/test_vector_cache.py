import os
import os.path as osp
import re

import pytest
import torch

from rlmrec_pyg.io import UnsafeFileError
from rlmrec_pyg.semantic import CachedEncoder, HashTextEncoder
from rlmrec_pyg.semantic.cache import QUARANTINE, safe_name
from rlmrec_pyg.semantic.encoder import text_hash


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


TEXTS = ['red apple', 'green pear', 'blue plum', 'dark cherry']


class Counting(HashTextEncoder):
    r"""Records every text it is asked to encode."""
    def __init__(self, dim=8):
        super().__init__(dim)
        self.seen = []

    def encode(self, texts):
        self.seen.extend(texts)
        return super().encode(texts)


def fill(tmp_path):
    r"""A cache of :obj:`TEXTS` in two shards; returns the folder and the
    shard holding the first two texts."""
    encoder = CachedEncoder(HashTextEncoder(8), str(tmp_path), chunk_size=2)
    encoder.encode(TEXTS)
    for file in os.listdir(encoder.root):
        shard = torch.load(osp.join(encoder.root, file), weights_only=True)
        if text_hash(TEXTS[0]) in shard['keys']:
            return encoder.root, file, shard


def files_under(path):
    return sorted(osp.relpath(osp.join(d, f), path)
                  for d, _, files in os.walk(path) for f in files)


def _truncate(path, shard):
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:len(data) // 2])


def _nan(path, shard):
    shard['emb'][1, 3] = float('nan')
    torch.save(shard, path)


def _structure(change):
    def breaker(path, shard):
        torch.save(change(shard), path)
    return breaker


BREAKERS = {
    'truncated': _truncate,
    'garbage': lambda path, shard: open(path, 'wb').write(b'not torch'),
    'NaN inside': _nan,
    'a list': _structure(lambda s: [s['keys'], s['emb']]),
    'no emb': _structure(lambda s: {'keys': s['keys']}),
    'keys not str': _structure(lambda s: dict(s, keys=[1, 2])),
    'emb 1-D': _structure(lambda s: dict(s, emb=s['emb'][0])),
    'emb rows != keys': _structure(lambda s: dict(s, emb=s['emb'][:1])),
    'emb of ints': _structure(lambda s: dict(s, emb=s['emb'].long())),
}


@pytest.mark.parametrize('kind', list(BREAKERS))
def test_broken_shard_is_quarantined_and_encoded_again(tmp_path, caplog,
                                                       kind):
    # Catches: a load error or bad structure that escapes (every later
    # encode blocked), a broken shard left in place, or re-encoding more
    # than the broken shard's texts.
    root, file, shard = fill(tmp_path)
    BREAKERS[kind](osp.join(root, file), shard)
    inner = Counting(8)
    out = CachedEncoder(inner, str(tmp_path), chunk_size=2).encode(TEXTS)
    assert torch.equal(out, HashTextEncoder(8).encode(TEXTS))
    assert inner.seen == TEXTS[:2]
    assert osp.isfile(osp.join(root, QUARANTINE, file))
    assert not osp.exists(osp.join(root, file))
    assert file in caplog.text
    again = Counting(8)
    CachedEncoder(again, str(tmp_path)).encode(TEXTS)
    assert again.seen == []  # The repair is on disk.


def _plant(root, texts, dim, name='shard-planted.pt'):
    os.makedirs(root, exist_ok=True)
    torch.save({'keys': [text_hash(t) for t in texts],
                'emb': HashTextEncoder(dim).encode(texts)},
               osp.join(root, name))


def test_only_shard_of_another_width_is_replaced(tmp_path, caplog):
    # Catches: cached vectors of another width stacked with (or returned
    # instead of) the encoder's vectors.
    inner = Counting(8)
    encoder = CachedEncoder(inner, str(tmp_path))
    _plant(encoder.root, TEXTS[:2], 16)
    out = encoder.encode(TEXTS[:3])
    assert torch.equal(out, HashTextEncoder(8).encode(TEXTS[:3]))
    assert inner.seen == [TEXTS[2], TEXTS[0], TEXTS[1]]
    assert os.listdir(osp.join(encoder.root, QUARANTINE)) == [
        'shard-planted.pt'
    ]
    assert 'width 16' in caplog.text


def test_shard_of_another_width_beside_good_ones(tmp_path):
    # Catches: shards disagreeing on width when nothing needs encoding
    # (no probe), or the good shards quarantined instead of the odd one.
    root, _, _ = fill(tmp_path)
    _plant(root, ['yellow lemon'], 16)
    inner = Counting(8)
    texts = TEXTS + ['yellow lemon']
    out = CachedEncoder(inner, str(tmp_path)).encode(texts)
    assert torch.equal(out, HashTextEncoder(8).encode(texts))
    assert inner.seen == [TEXTS[0], 'yellow lemon']  # Probe + re-encode.
    assert os.listdir(osp.join(root, QUARANTINE)) == ['shard-planted.pt']


class Plant:
    r"""Creates :obj:`marker` when unpickled by a full unpickler."""
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def test_hostile_shard_is_refused_and_nothing_changes(tmp_path):
    # Catches: a shard read without weights_only (the payload runs), and a
    # quarantine of other shards done before the hostile one is found.
    root, file, shard = fill(tmp_path / 'cache')
    _truncate(osp.join(root, file), shard)
    marker = str(tmp_path / 'marker')
    hostile = osp.join(root, 'shard-zz.pt')
    torch.save({'keys': ['x'], 'emb': Plant(marker)}, hostile)
    before = files_under(tmp_path)
    for _ in range(2):
        with pytest.raises(UnsafeFileError, match=re.escape(hostile)):
            CachedEncoder(HashTextEncoder(8), str(tmp_path / 'cache')).encode(
                TEXTS)
    assert not osp.exists(marker)
    assert files_under(tmp_path) == before
    torch.load(hostile, weights_only=False)['emb'].close()  # It is live.
    assert osp.exists(marker)


def test_shards_are_written_with_fsync(tmp_path, monkeypatch):
    # Catches: a shard written by a plain torch.save (not crash-safe).
    calls = []
    fsync = os.fsync
    monkeypatch.setattr(os, 'fsync', lambda fd: calls.append(fd) or fsync(fd))
    CachedEncoder(HashTextEncoder(8), str(tmp_path)).encode(TEXTS)
    assert calls


def test_non_finite_encoder_output_is_not_cached(tmp_path):
    # Catches: NaN vectors saved as a shard (quarantined on every run).
    class NaNEncoder(HashTextEncoder):
        def encode(self, texts):
            return super().encode(texts) * float('nan')

    encoder = CachedEncoder(NaNEncoder(8), str(tmp_path))
    with pytest.raises(ValueError, match="'hash-8-0' returned non-finite"):
        encoder.encode(TEXTS)
    assert not osp.exists(encoder.root)


def test_paid_vectors_are_saved_per_request(tmp_path):
    # An embeddings API fails on the third request: the vectors of the two
    # requests before it are kept, and the rerun pays only for the rest.
    from fake_openai_server import FakeOpenAIServer

    from rlmrec_pyg.semantic import OpenAIEmbeddingEncoder
    texts = [f'text {i}' for i in range(6)]
    with FakeOpenAIServer(script=['ok', 'ok', '500']) as server:
        encoder = OpenAIEmbeddingEncoder(base_url=server.url, api_key='x',
                                         batch_size=2, max_retries=0)
        cached = CachedEncoder(encoder, str(tmp_path))
        assert cached.chunk_size == 2
        with pytest.raises(RuntimeError, match='embeddings request'):
            cached.encode(texts)
        again = CachedEncoder(encoder, str(tmp_path)).encode(texts)
        calls = [r for r in server.requests if r['path'] == 'embeddings']
    assert len(calls) == 4  # 2 saved + 1 failed, then 1 for the rest
    assert again.shape == (6, 12)
