import logging
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from rlmrec_pyg.semantic import (AttachSemantic, HashTextEncoder,
                                 MemoryMappedSemantic, VectorStore)
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.typing import ITEM, PROFILE, SEM_EMB, USER

TEXTS = [f'text {i} about {"drama" if i % 3 else "comedy"}' for i in range(50)]


def mapped(path):
    # Whether this process maps the file (Linux: /proc/self/maps).
    with open('/proc/self/maps') as f:
        return any(line.rstrip().endswith(str(path)) for line in f)


class Counting(HashTextEncoder):
    r"""Records every text it encodes; fails at call :obj:`fail_at`."""
    def __init__(self, dim=8, fail_at=None, scale=1.0):
        super().__init__(dim)
        self.seen, self.fail_at, self.scale = [], fail_at, scale

    def encode(self, texts):
        if self.fail_at is not None and self.num_calls == self.fail_at:
            raise RuntimeError('encoder died')
        self.seen.extend(texts)
        return super().encode(texts) * self.scale


def test_write_then_memory_map(tmp_path):
    encoder = HashTextEncoder(8)
    store = VectorStore(str(tmp_path / 'item')).write(
        encoder, iter(TEXTS), num_rows=50, chunk_size=16)
    emb = store.tensor()
    assert emb.dtype == torch.float16 and emb.shape == (50, 8)
    assert torch.equal(emb, encoder.encode(TEXTS).half())
    # Memory-mapped from the store's file, and writing to it leaves the
    # file unchanged (copy-on-write).
    assert mapped(tmp_path / 'item' / 'vectors.f16')
    emb[0] = 7.0
    assert torch.equal(VectorStore(str(tmp_path / 'item')).tensor()[0],
                       encoder.encode(TEXTS[:1]).half()[0])
    assert store.done() == [True] * 4 and store.encoder == 'hash-8-0'
    assert repr(store).endswith("'hash-8-0', [50, 8])")


def test_resume_encodes_only_chunks_not_done(tmp_path):
    path = str(tmp_path / 's')
    with pytest.raises(RuntimeError, match='encoder died'):
        VectorStore(path).write(Counting(fail_at=2), TEXTS, chunk_size=16)
    assert VectorStore(path).done() == [True, True, False, False]
    with pytest.raises(ValueError, match='2 of 4 chunks are not written'):
        VectorStore(path).tensor()
    again = Counting()
    emb = VectorStore(path).write(again, TEXTS, chunk_size=16).tensor()
    assert again.seen == TEXTS[32:]
    assert torch.equal(emb, HashTextEncoder(8).encode(TEXTS).half())
    # A changed text re-encodes its chunk only.
    changed = TEXTS[:20] + ['a new text'] + TEXTS[21:]
    third = Counting()
    emb = VectorStore(path).write(third, changed, chunk_size=16).tensor()
    assert third.seen == changed[16:32]
    assert torch.equal(emb[20], HashTextEncoder(8).encode(['a new text'])
                       .half()[0])


def test_sigkill_mid_write_then_resume(tmp_path):
    # A process killed (SIGKILL) after its third chunk: the rerun encodes
    # exactly the chunks that were not marked done, nothing twice.
    path = str(tmp_path / 's')
    script = textwrap.dedent(f"""
        import os, signal
        from rlmrec_pyg.semantic import HashTextEncoder, VectorStore

        class Dying(HashTextEncoder):
            def encode(self, texts):
                if self.num_calls == 3:
                    os.kill(os.getpid(), signal.SIGKILL)
                return super().encode(texts)

        VectorStore({path!r}).write(Dying(8), {TEXTS!r}, chunk_size=8)
    """)
    run = subprocess.run([sys.executable, '-c', script], env=dict(
        os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert run.returncode == -9
    assert VectorStore(path).done() == [True] * 3 + [False] * 4
    again = Counting()
    emb = VectorStore(path).write(again, TEXTS, chunk_size=8).tensor()
    assert again.seen == TEXTS[24:]
    assert torch.equal(emb, HashTextEncoder(8).encode(TEXTS).half())


def test_another_encoder_or_size_moves_the_store_aside(tmp_path, caplog):
    path = tmp_path / 's'
    VectorStore(str(path)).write(HashTextEncoder(8), TEXTS, chunk_size=16)
    with caplog.at_level(logging.WARNING):
        emb = VectorStore(str(path)).write(HashTextEncoder(4), TEXTS[:40],
                                           chunk_size=16).tensor()
    assert emb.shape == (40, 4)
    aside = [p for p in os.listdir(tmp_path) if p.startswith('s.replaced-')]
    assert len(aside) == 1 and "made by 'hash-8-0' for 50 rows" in caplog.text
    old = VectorStore(str(tmp_path / aside[0]))
    assert old.encoder == 'hash-8-0' and old.tensor().shape == (50, 8)


def test_bad_input_and_bad_vectors(tmp_path):
    path = str(tmp_path / 's')
    with pytest.raises(ValueError, match="'num_rows' is needed"):
        VectorStore(path).write(HashTextEncoder(), iter(TEXTS))
    with pytest.raises(ValueError, match="'chunk_size' must be a positive"):
        VectorStore(path).write(HashTextEncoder(), TEXTS, chunk_size=0)
    with pytest.raises(ValueError, match="'texts' ended after 50 of 60"):
        VectorStore(path).write(HashTextEncoder(), iter(TEXTS), num_rows=60)
    with pytest.raises(ValueError, match="more than 'num_rows' = 40"):
        VectorStore(path).write(HashTextEncoder(), iter(TEXTS), num_rows=40)
    with pytest.raises(ValueError, match=r'values beyond float16 .* rows '
                       r'0-15; nothing of them was stored'):
        VectorStore(str(tmp_path / 'big')).write(Counting(scale=1e6), TEXTS,
                                                 chunk_size=16)
    assert VectorStore(str(tmp_path / 'big')).meta is None
    # After two good chunks, a NaN chunk stores nothing and is not done.
    nan = Counting(fail_at=None)
    nan.encode = lambda texts: (HashTextEncoder(8).encode(texts) if texts[0]
                                != TEXTS[32] else torch.full((16, 8), 1.0)
                                / 0 * 0)
    nan.name = 'hash-8-0'
    with pytest.raises(ValueError, match=r'non-finite .* rows 32-47'):
        VectorStore(path).write(nan, TEXTS, chunk_size=16)
    assert VectorStore(path).done() == [True, True, False, False]
    (tmp_path / 'mine').mkdir()
    (tmp_path / 'mine' / 'notes.txt').write_text('keep')
    with pytest.raises(ValueError, match=r"'path' of 'VectorStore' must be a "
                       r"vector store or a new or empty folder .*notes.txt"):
        VectorStore(str(tmp_path / 'mine')).write(HashTextEncoder(), TEXTS)
    with pytest.raises(FileNotFoundError, match='holds no vector store'):
        VectorStore(str(tmp_path / 'none')).tensor()


def test_attach_to_store_then_memory_map(tmp_path):
    data = get_random_rec_data(sem_channels=0)
    data[USER][PROFILE] = [f'user {i} likes drama' for i in range(20)]
    data[ITEM][PROFILE] = [f'item {i} drama' for i in range(30)]
    encoder = HashTextEncoder(16)
    out = AttachSemantic(encoder, store_dir=str(tmp_path / 'v'),
                         chunk_size=8)(data)
    for node_type, texts in ((USER, data[USER][PROFILE]),
                             (ITEM, data[ITEM][PROFILE])):
        sem = out[node_type][SEM_EMB]
        assert sem.dtype == torch.float16
        assert torch.equal(sem, encoder.encode(texts).half())
    fresh = get_random_rec_data(sem_channels=0)
    del out
    attached = MemoryMappedSemantic(str(tmp_path / 'v'))(fresh)
    assert torch.equal(attached[ITEM][SEM_EMB],
                       encoder.encode(data[ITEM][PROFILE]).half())
    assert mapped(tmp_path / 'v' / 'user' / 'vectors.f16')
    small = get_random_rec_data(num_users=10, sem_channels=0)
    with pytest.raises(ValueError, match="holds 20 rows, but node type "
                       "'user' has 10 nodes"):
        MemoryMappedSemantic(str(tmp_path / 'v'))(small)
    with pytest.raises(ValueError, match="Expected a vector store for node "
                       "type 'user'"):
        MemoryMappedSemantic(str(tmp_path / 'nothing'))(fresh)
