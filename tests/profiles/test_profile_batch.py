import json
import os.path as osp

import pytest
from fake_openai_server import FakeOpenAIServer, prompt_id
from profile_helpers import ok_per_node, profiler_kwargs, review_data

import rlmrec_pyg.profiles.batch as batch
from rlmrec_pyg.profiles import OpenAIProfiler
from rlmrec_pyg.typing import ITEM, PROFILE, USER


def test_batch_mode_with_failed_lines(tmp_path):
    data = review_data()
    with FakeOpenAIServer(fault_rate=0.3) as server:
        profiler = OpenAIProfiler(**profiler_kwargs(
            server.url, str(tmp_path), mode='batch', poll_interval=0.01))
        out = profiler(data)
    assert out[ITEM][PROFILE] == [
        f'profile {prompt_id(p)}' for p in profiler.prompts(data, ITEM)
    ]
    counts = ok_per_node(profiler.cache.path)
    assert len(counts) == 50 and set(counts.values()) == {1}
    # Failed lines went into follow-up batches, with only the failed nodes.
    sizes = [len(server.files[b['input_file_id']].splitlines())
             for b in server.batches.values()]
    assert sizes[0] == 30 and len(sizes) > 2 and sum(sizes) < 100
    with open(osp.join(str(tmp_path), 'batches.json')) as f:
        assert json.load(f) == {}
    assert profiler.usage.cost('gpt-3.5-turbo', batch=True) == pytest.approx(
        profiler.usage.cost('gpt-3.5-turbo') / 2)
    first = json.loads(server.files['file-0'].splitlines()[0])
    assert first['url'] == '/v1/chat/completions'
    assert first['body']['response_format'] == {'type': 'json_object'}


def test_killed_batch_run_resumes_its_pending_batch(tmp_path, monkeypatch):
    data = review_data(num_users=3, num_items=5)

    def killed(*args):
        raise KeyboardInterrupt  # The process dies while polling.

    with FakeOpenAIServer() as server:
        kwargs = profiler_kwargs(server.url, str(tmp_path), mode='batch',
                                 poll_interval=0.01)
        with monkeypatch.context() as m:
            m.setattr(batch, '_finish', killed)
            with pytest.raises(KeyboardInterrupt):
                OpenAIProfiler(**kwargs)(data)
        with open(osp.join(str(tmp_path), 'batches.json')) as f:
            assert json.load(f) == {'batch-0': ITEM}
        out = OpenAIProfiler(**kwargs)(data)
    assert [b['id'] for b in server.batches.values()] == ['batch-0',
                                                          'batch-1']
    assert len(server.files['file-0'].splitlines()) == 5  # Items, once.
    assert all(p.startswith('profile ') for p in out[USER][PROFILE])


@pytest.mark.parametrize('content', [b'{"batch-1": "item"', b'["batch-1"]',
                                     b'{"batch-1": 3}', b'\xff\xfe'])
def test_corrupt_batch_state_is_one_clear_error(tmp_path, content):
    # It lists batches already paid for: never silently dropped.
    (tmp_path / 'batches.json').write_bytes(content)
    with pytest.raises(ValueError, match=r"batches.json' is not the JSON "
                       r"object of pending batches .* already submitted "
                       r"and paid for"):
        batch.BatchState(str(tmp_path))
    assert (tmp_path / 'batches.json').read_bytes() == content
