# No API key in any output of the LLM profiler: a server that echoes the
# key (whole and masked) in its errors, on every route and for every error
# status, leaves no trace of it in the exception (text, repr, traceback),
# the logs, stdout/stderr or any file of the cache.
import asyncio
import json
import logging
import os.path as osp
import sqlite3

import openai
import pytest
from fake_openai_server import ERROR_STATUS, FakeOpenAIServer
from profile_helpers import profiler_kwargs, review_data
from secret_helpers import assert_no_key, exception_texts, sentinel

import rlmrec_pyg.profiles.batch as batch
from rlmrec_pyg.profiles import OpenAIProfiler
from rlmrec_pyg.profiles.retry import FATAL_STATUS
from rlmrec_pyg.typing import ITEM, PROFILE

BATCH_ROUTES = ('upload', 'batch_create', 'batch_retrieve', 'file_content')
#: What the error says failed, per Batch API route.
BATCH_WHAT = {
    'upload': "uploading '",
    'batch_create': "creating a batch of 'file-",
    'batch_retrieve': "polling batch 'batch-0'",
    'file_content': "downloading 'file-batch-0-out' of batch 'batch-0'",
}


def make_profiler(url, tmp_path, **kwargs):
    return OpenAIProfiler(**profiler_kwargs(
        url, str(tmp_path / 'cache'), max_retries=1, poll_interval=0.01,
        **kwargs))


def records(profiler):
    con = sqlite3.connect(profiler.cache.path)
    try:
        return [json.loads(r) for r, in con.execute(
            'SELECT record FROM answers')]
    finally:
        con.close()


@pytest.fixture
def watch(caplog, capsys):
    r"""Captures the logs at DEBUG (the SDK's and httpx's included)."""
    caplog.set_level(logging.DEBUG)

    def texts():
        out, err = capsys.readouterr()
        return [caplog.text, out, err]

    return texts


@pytest.mark.parametrize('status', ERROR_STATUS)
def test_chat_errors_hide_the_key(tmp_path, monkeypatch, watch, status):
    # Catches: the chat error text built from the SDK's message without
    # describe_api_error, or the fatal RuntimeError raised without
    # 'from None' (the traceback then chains the SDK error with the key).
    key = sentinel('chat')
    monkeypatch.setenv('OPENAI_API_KEY', key)
    data = review_data(num_users=2, num_items=2)
    texts = []
    with FakeOpenAIServer(errors={'chat': status}) as server:
        profiler = make_profiler(server.url, tmp_path, api_key=key)
        if status in FATAL_STATUS:
            with pytest.raises(RuntimeError) as e:
                profiler.profile_items(data)
            texts = exception_texts(e.value)
            assert str(e.value).startswith(
                f'The server refused the chat completions request (HTTP '
                f'{status}: Request refused ({status}); incorrect API key '
                f'provided: *** (shown as ***)); check the model')
        else:  # Failed nodes are recorded, with the redacted error.
            assert profiler.profile_items(data)[0] == ['None', 'None']
            errors = [r['error'] for r in records(profiler)]
            assert len(errors) == 2 and all(
                e.startswith(f'HTTP {status}: ') and '***' in e
                for e in errors)
            texts = errors
    assert any(r.get('fault') == str(status) for r in server.requests)
    assert_no_key(texts + watch(), [str(tmp_path)], [key])


def in_running_loop(function):
    r"""Calls :obj:`function` inside a running event loop, as in Jupyter:
    the profiler then runs its requests in a thread, and an error reaches
    the caller with the exceptions it was raised from still chained."""
    async def main():
        return function()

    return asyncio.run(main())


def test_fatal_chat_error_in_a_running_loop_hides_the_key(tmp_path, watch):
    # Catches: the fatal RuntimeError of _ask raised without 'from None'
    # (in the plain path asyncio happens to replace the chained error).
    key = sentinel('jupyter')
    data = review_data(num_users=2, num_items=2)
    with FakeOpenAIServer(errors={'chat': 401}) as server:
        profiler = make_profiler(server.url, tmp_path, api_key=key)
        with pytest.raises(RuntimeError, match='HTTP 401') as e:
            in_running_loop(lambda: profiler.profile_items(data))
    assert_no_key(exception_texts(e.value) + watch(), [str(tmp_path)], [key])


def test_any_other_sdk_error_hides_the_key(tmp_path, monkeypatch, watch):
    # Another SDK error (here a bare APIError whose message has the key)
    # escaping _ask. Catches: _ask_all without its catch-all, or raising
    # it without 'from None'.
    key = sentinel('other')

    async def broken_ask(self, *args):
        raise openai.APIError(f'bad answer for {key}', None, body=None)

    monkeypatch.setattr(OpenAIProfiler, '_ask', broken_ask)
    profiler = make_profiler('http://127.0.0.1:9/v1', tmp_path, api_key=key)
    data = review_data(num_users=2, num_items=2)
    with pytest.raises(RuntimeError) as e:
        in_running_loop(lambda: profiler.profile_items(data))
    assert str(e.value) == (f"A chat completions request failed (APIError: "
                            f"bad answer for ***); the answers received so "
                            f"far are in '{profiler.cache.path}'")
    assert_no_key(exception_texts(e.value) + watch(), [str(tmp_path)], [key])


@pytest.mark.parametrize('route', BATCH_ROUTES)
@pytest.mark.parametrize('status', ERROR_STATUS)
def test_batch_errors_hide_the_key(tmp_path, monkeypatch, watch, route,
                                   status):
    # Catches: any of the four Batch API calls made without batch._call
    # (the SDK error with the key propagates), or _call raising its error
    # inside the except block without 'from None'.
    key = sentinel('batch')
    monkeypatch.setenv('OPENAI_API_KEY', key)
    data = review_data(num_users=2, num_items=3)
    with FakeOpenAIServer(errors={route: status}) as server:
        profiler = make_profiler(server.url, tmp_path, api_key=key,
                                 mode='batch')
        with pytest.raises(RuntimeError) as e:
            profiler(data)
    message = str(e.value)
    assert message.startswith(f'The Batch API request {BATCH_WHAT[route]}')
    assert f'(HTTP {status}: Request refused ({status}); incorrect API ' \
           f'key provided: *** (shown as ***))' in message
    assert f"pending batch ids in '{tmp_path}" in message
    assert message.endswith('so running again resumes')
    assert any(r.get('fault') == str(status) for r in server.requests)
    assert_no_key(exception_texts(e.value) + watch(), [str(tmp_path)], [key])


@pytest.mark.parametrize('route', BATCH_ROUTES)
def test_batch_rerun_after_an_error_resumes(tmp_path, route):
    # Catches: the pending batch id not saved before polling, or dropped
    # on an error (the rerun would submit and pay for a second batch).
    data = review_data(num_users=2, num_items=3)
    with FakeOpenAIServer(errors={route: 503}) as server:
        with pytest.raises(RuntimeError, match='HTTP 503'):
            make_profiler(server.url, tmp_path, mode='batch')(data)
        server.errors.clear()
        out = make_profiler(server.url, tmp_path, mode='batch')(data)
    # Items (3) and users (2), each submitted once, before or after.
    assert [len(server.files[b['input_file_id']].splitlines())
            for b in server.batches.values()] == [3, 2]
    assert all(p.startswith('profile ') for p in out[ITEM][PROFILE])
    with open(tmp_path / 'cache' / 'batches.json') as f:
        assert json.load(f) == {}


@pytest.mark.parametrize('source', ['env', 'argument'])
@pytest.mark.parametrize('mode', ['async', 'batch'])
def test_a_plain_token_is_hidden_too(tmp_path, monkeypatch, watch, source,
                                     mode):
    # A key that is not 'sk-'-shaped (a vLLM token) is only found as the
    # configured key or OPENAI_API_KEY. Catches: describe_api_error without
    # the environment's key (source='env') or without the configured one
    # (source='argument'), and redact without the masked forms.
    key = sentinel(mode, prefix='tok-')
    if source == 'env':
        monkeypatch.setenv('OPENAI_API_KEY', key)
    else:
        monkeypatch.delenv('OPENAI_API_KEY', raising=False)
    route = 'chat' if mode == 'async' else 'batch_create'
    with FakeOpenAIServer(errors={route: 401}) as server:
        profiler = make_profiler(server.url, tmp_path, mode=mode,
                                 api_key=key if source == 'argument' else None)
        with pytest.raises(RuntimeError, match='HTTP 401') as e:
            profiler(review_data(num_users=2, num_items=2))
    assert '(shown as ***)' in str(e.value)
    assert_no_key(exception_texts(e.value) + watch(), [str(tmp_path)], [key])


def test_batch_state_is_saved_crash_safely(tmp_path, monkeypatch):
    # Catches: BatchState.save writing batches.json in place or leaving a
    # temporary file behind when the write fails.
    state = batch.BatchState(str(tmp_path))
    state.pending = {'batch-0': ITEM}
    state.save()

    def broken_dump(obj, f, **kwargs):
        f.write('{"batch-')  # The process dies in the middle.
        raise KeyboardInterrupt

    monkeypatch.setattr(batch.json, 'dump', broken_dump)
    state.pending['batch-1'] = ITEM
    with pytest.raises(KeyboardInterrupt):
        state.save()
    monkeypatch.undo()
    assert batch.BatchState(str(tmp_path)).pending == {'batch-0': ITEM}
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'batch-plans.json', 'batches.json']
    assert osp.isfile(state.path)
