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
            m.setattr(batch._Round, 'poll', killed)
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


def lines_per_prompt(server):
    counts = {}
    for r in server.requests:
        if r['path'] == 'batch_line':
            counts[r['pid']] = counts.get(r['pid'], 0) + 1
    return counts


def test_batches_in_flight_stay_under_the_cap(tmp_path):
    data = review_data(num_users=2, num_items=11)
    with FakeOpenAIServer() as server:
        profiler = OpenAIProfiler(**profiler_kwargs(
            server.url, str(tmp_path), mode='batch', poll_interval=0.01,
            batch_max_requests=4))
        out = profiler(data)
    sizes = [len(server.files[b['input_file_id']].splitlines())
             for b in server.batches.values()]
    assert sizes == [4, 4, 3, 2] and server.max_enqueued == 4
    assert set(lines_per_prompt(server).values()) == {1}
    assert all(p.startswith('profile ') for p in out[ITEM][PROFILE])
    # A token cap too: each request's estimated tokens are counted.
    with pytest.raises(ValueError, match="'batch_max_tokens' must be a "
                       "positive integer"):
        OpenAIProfiler(batch_max_tokens=0)


@pytest.mark.parametrize('call', ['files', 'batches'])
def test_killed_after_a_submission_is_never_submitted_twice(
        tmp_path, monkeypatch, call):
    # The process dies right after the provider took the upload (files) or
    # created the batch (batches), before the id was saved: the rerun finds
    # that batch (by its input file) or creates it from the saved plan.
    import openai.resources.batches as batches
    import openai.resources.files as files
    cls = {'files': files.Files, 'batches': batches.Batches}[call]
    create = cls.create

    def dies_after(self, *args, **kwargs):
        create(self, *args, **kwargs)
        raise KeyboardInterrupt

    data = review_data(num_users=3, num_items=5)
    with FakeOpenAIServer() as server:
        kwargs = profiler_kwargs(server.url, str(tmp_path), mode='batch',
                                 poll_interval=0.01)
        with monkeypatch.context() as m:
            m.setattr(cls, 'create', dies_after)
            with pytest.raises(KeyboardInterrupt):
                OpenAIProfiler(**kwargs)(data)
        with open(osp.join(str(tmp_path), 'batch-plans.json')) as f:
            plans = json.load(f)
        assert [p['requests'] for p in plans.values()] == [5]
        out = OpenAIProfiler(**kwargs)(data)
    # Items in one batch (5 lines, each asked once), then users.
    assert [len(server.files[b['input_file_id']].splitlines())
            for b in server.batches.values()] == [5, 3]
    assert set(lines_per_prompt(server).values()) == {1}
    assert len(server.files) == (3 if call == 'files' else 2) + 2
    assert all(p.startswith('profile ') for p in out[USER][PROFILE])
    with open(osp.join(str(tmp_path), 'batch-plans.json')) as f:
        assert json.load(f) == {}


def test_corrupt_batch_plans_are_one_clear_error(tmp_path):
    (tmp_path / 'batch-plans.json').write_bytes(b'{"batch-item-1.jsonl": 3}')
    with pytest.raises(ValueError, match=r"batch-plans.json' is not the JSON "
                       r"object of planned batches .* already submitted"):
        batch.BatchState(str(tmp_path))
