# No API key in any output of the OpenAI embeddings encoder: a server
# that echoes the key (whole and masked) in its errors, for every error
# status, leaves no trace of it in the exception (text, repr, traceback),
# the logs, stdout/stderr or any file of the vector cache.
import logging

import pytest
from fake_openai_server import ERROR_STATUS, FakeOpenAIServer
from secret_helpers import assert_no_key, exception_texts, sentinel

from rlmrec_pyg.semantic import OpenAIEmbeddingEncoder
from rlmrec_pyg.semantic.cache import CachedEncoder


def encoder(url, tmp_path, api_key):
    return CachedEncoder(OpenAIEmbeddingEncoder(
        base_url=url, api_key=api_key, batch_size=2, max_retries=1,
        timeout=5.0), str(tmp_path / 'cache'))


@pytest.mark.parametrize('status', ERROR_STATUS)
def test_embedding_errors_hide_the_key(tmp_path, monkeypatch, caplog,
                                       capsys, status):
    # Catches: OpenAIEmbeddingEncoder.encode letting the SDK's error (its
    # message echoes the key) propagate, or describing it unredacted.
    caplog.set_level(logging.DEBUG)
    key = sentinel('embed')
    monkeypatch.setenv('OPENAI_API_KEY', key)
    with FakeOpenAIServer() as server:
        cached = encoder(server.url, tmp_path, key)
        assert cached.encode(['a', 'b', 'c']).shape == (3, 12)  # Cached.
        server.errors['embeddings'] = status
        with pytest.raises(RuntimeError) as e:
            cached.encode(['a', 'd', 'e', 'f'])
    assert str(e.value) == (
        f"The embeddings request for texts 0-1 of 2 to "
        f"'text-embedding-ada-002' failed (HTTP {status}: Request refused "
        f"({status}); incorrect API key provided: *** (shown as ***)); "
        f"check the model, base URL and API key (OPENAI_API_KEY)")
    assert server.requests[-1]['fault'] == str(status)
    out, err = capsys.readouterr()
    texts = exception_texts(e.value) + [caplog.text, out, err]
    assert assert_no_key(texts, [str(tmp_path)], [key]) >= 1


@pytest.mark.parametrize('source', ['env', 'argument'])
def test_a_plain_token_is_hidden_too(tmp_path, monkeypatch, source):
    # A key that is not 'sk-'-shaped is only found as the configured key
    # or OPENAI_API_KEY. Catches: the encoder not passing its key to
    # describe_api_error (source='argument'), the helper not reading
    # OPENAI_API_KEY (source='env').
    key = sentinel('embed', prefix='tok-')
    if source == 'env':
        monkeypatch.setenv('OPENAI_API_KEY', key)
    else:
        monkeypatch.delenv('OPENAI_API_KEY', raising=False)
    with FakeOpenAIServer(errors={'embeddings': 401}) as server:
        enc = OpenAIEmbeddingEncoder(
            base_url=server.url, max_retries=0,
            api_key=key if source == 'argument' else None)
        with pytest.raises(RuntimeError, match=r'\(shown as \*\*\*\)') as e:
            enc.encode(['a'])
    assert_no_key(exception_texts(e.value) + [repr(enc)], [], [key])
