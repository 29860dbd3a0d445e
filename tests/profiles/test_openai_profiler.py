import socket
import time

import pytest
from fake_openai_server import FakeOpenAIServer, prompt_id
from profile_helpers import ok_per_node, profiler_kwargs, review_data

from rlmrec_pyg.profiles import OpenAIProfiler, load_system_prompt
from rlmrec_pyg.typing import ITEM, PROFILE, REASONING, USER


def expected(profiler, data, node_type, item_profiles=None):
    return [
        f'profile {prompt_id(p)}'
        for p in profiler.prompts(data, node_type, item_profiles)
    ]


def test_all_profiles_complete_under_faults(tmp_path):
    data = review_data()
    with FakeOpenAIServer(fault_rate=0.4, slow_seconds=1.0) as server:
        profiler = OpenAIProfiler(
            **profiler_kwargs(server.url, str(tmp_path), max_retries=4))
        out = profiler(data)
    faults = [r['fault'] for r in server.requests]
    assert sum(f is not None for f in faults) / len(faults) >= 0.2
    assert {'429', '500', 'slow', 'malformed', 'empty'} <= set(faults)
    assert out[ITEM][PROFILE] == expected(profiler, data, ITEM)
    assert out[USER][PROFILE] == expected(profiler, data, USER,
                                          out[ITEM][PROFILE])
    assert out[USER][REASONING][0].startswith('because ')
    counts = ok_per_node(profiler.cache.path)
    assert len(counts) == 50 and set(counts.values()) == {1}
    # Fenced and prose answers parse on the first try: no retry for them.
    retried = {r['pid'] for r in server.requests
               if r['fault'] in ('429', '500', 'slow', 'malformed', 'empty')}
    assert len(server.requests) == 50 + sum(
        f in ('429', '500', 'slow', 'malformed', 'empty') for f in faults)
    assert retried
    assert profiler.usage.requests == len(server.requests) - faults.count(
        'slow') - faults.count('429') - faults.count('500')
    assert profiler.usage.cost('gpt-3.5-turbo') > 0
    # A second run asks for nothing.
    with FakeOpenAIServer() as server:
        again = OpenAIProfiler(**profiler_kwargs(server.url, str(tmp_path)))
        assert again(data)[USER][PROFILE] == out[USER][PROFILE]
    assert server.requests == []


def test_concurrency_is_bounded(tmp_path):
    data = review_data(num_users=2, num_items=12)
    with FakeOpenAIServer(latency=0.2) as server:
        OpenAIProfiler(**profiler_kwargs(server.url, str(tmp_path),
                                         max_concurrency=3))(data)
    assert server.max_in_flight == 3


def test_retry_after_is_honoured(tmp_path):
    data = review_data(num_users=2, num_items=2)
    with FakeOpenAIServer(script=['429'], retry_after='0.4') as server:
        profiler = OpenAIProfiler(
            **profiler_kwargs(server.url, str(tmp_path), max_concurrency=1))
        start = time.perf_counter()
        profiler.profile_items(data)
        assert time.perf_counter() - start >= 0.4
    assert [r['fault'] for r in server.requests] == ['429', None, None]


def test_unparseable_answers_are_recorded_and_asked_again(tmp_path):
    data = review_data(num_users=3, num_items=4)
    kwargs = profiler_kwargs(str(tmp_path), str(tmp_path), max_retries=2,
                             max_concurrency=1)
    with FakeOpenAIServer(script=['malformed', 'empty', 'fenced'] +
                          ['malformed'] * 3) as server:
        kwargs['base_url'] = server.url
        profiles, _ = OpenAIProfiler(**kwargs).profile_items(data)
    assert profiles[0].startswith('profile ') and profiles[1] == 'None'
    failed = OpenAIProfiler(**kwargs).cache.failed
    assert [(k[0], k[1]) for k in failed] == [(ITEM, 1)]
    assert 'Unparseable answer' in next(iter(failed.values()))['error']
    with FakeOpenAIServer() as server:
        kwargs['base_url'] = server.url
        profiles, _ = OpenAIProfiler(**kwargs).profile_items(data)
    assert profiles[1].startswith('profile ')
    assert server.chat_ids() == [server.chat_ids()[0]]  # Only item 1.


def test_json_mode_is_dropped_when_the_server_rejects_it(tmp_path):
    data = review_data(num_users=2, num_items=3)
    with FakeOpenAIServer(script=['400']) as server:
        profiler = OpenAIProfiler(
            **profiler_kwargs(server.url, str(tmp_path), max_concurrency=1))
        profiles, _ = profiler.profile_items(data)
    assert all(p.startswith('profile ') for p in profiles)
    assert [r['json_mode'] for r in server.requests] == [True] + [False] * 3
    assert not profiler.json_mode


def test_changed_template_or_model_gives_new_keys(tmp_path):
    data = review_data(num_users=3, num_items=4)
    with FakeOpenAIServer() as server:
        kwargs = profiler_kwargs(server.url, str(tmp_path))
        OpenAIProfiler(**kwargs).profile_items(data)
        OpenAIProfiler(**kwargs, max_words=5).profile_items(data)
        OpenAIProfiler(**kwargs, model='gpt-4o-mini').profile_items(data)
        OpenAIProfiler(**kwargs, model='gpt-4o-mini').profile_items(data)
    assert len(server.requests) == 12


def test_dry_run_makes_no_request(tmp_path, monkeypatch):
    data = review_data()

    def refuse(*args, **kwargs):
        raise AssertionError('network access in a dry run')

    monkeypatch.setattr(socket.socket, 'connect', refuse)
    profiler = OpenAIProfiler(cache_dir=str(tmp_path), api_key='sk-x')
    report = profiler.dry_run(data)
    assert report[ITEM]['prompts'] == report[ITEM]['to_ask'] == 30
    assert report[USER]['prompts'] == report[USER]['to_ask'] == 20
    system = load_system_prompt('movie', ITEM)
    prompt_tokens = sum((len(system) + 3) // 4 + (len(p) + 3) // 4 + 8
                        for p in profiler.prompts(data, ITEM))
    assert report[ITEM]['prompt_tokens'] == prompt_tokens
    assert report[USER]['completion_tokens'] == 20 * 250
    assert report['batch_cost_usd'] == pytest.approx(report['cost_usd'] / 2)


def test_fatal_errors_and_repr_hide_the_key(tmp_path):
    data = review_data(num_users=2, num_items=2)
    secret = 'sk-' + 'proj-SECRET0123456789'  # a made-up sentinel
    with FakeOpenAIServer(script=['401']) as server:
        profiler = OpenAIProfiler(**profiler_kwargs(server.url, str(tmp_path),
                                                    api_key=secret))
        with pytest.raises(RuntimeError, match='HTTP 401') as e:
            profiler.profile_items(data)
    assert secret not in str(e.value) and secret not in repr(profiler)
    assert repr(profiler) == ("OpenAIProfiler(domain='movie', "
                              "model='gpt-3.5-turbo', mode='async')")
    with pytest.raises(ValueError, match="'mode' must be one of"):
        OpenAIProfiler(mode='sync')


def test_shards_profile_disjoint_nodes_and_share_answers(tmp_path):
    # Two shards (as two machines on one folder): each asks only its own
    # nodes, users wait for every item, and the assembled run asks nothing.
    data = review_data(num_users=10, num_items=14)
    with FakeOpenAIServer(fault_rate=0.3) as server:
        shards = [OpenAIProfiler(**profiler_kwargs(
            server.url, str(tmp_path), shard=(i, 2))) for i in (0, 1)]
        report = shards[1].dry_run(data)
        assert report[ITEM]['to_ask'] == 7 and report['shard'] == [1, 2]
        assert shards[0].profile(data, ITEM) == dict(nodes=7, cached=0,
                                                     asked=7, failed=0)
        with pytest.raises(RuntimeError, match='7 of 14 items have no '
                           'profile .* once every item shard has finished'):
            shards[0].profile(data, USER)
        shards[1].profile(data, ITEM)
        for shard in shards:
            shard.profile(data, USER)
        answered = [r['pid'] for r in server.requests
                    if r['fault'] in (None, 'fenced', 'prose')]
        whole = OpenAIProfiler(**profiler_kwargs(server.url, str(tmp_path)))
        num_requests = len(server.requests)
        out = whole(data)
        assert len(server.requests) == num_requests  # nothing asked again
    assert len(answered) == 24  # one good answer per node, none twice
    assert out[ITEM][PROFILE] == expected(whole, data, ITEM)
    assert out[USER][PROFILE] == expected(whole, data, USER,
                                          out[ITEM][PROFILE])
    with pytest.raises(ValueError, match=r"'shard' must be \(index, count\)"):
        OpenAIProfiler(shard=(2, 2))


def test_a_resumed_run_asks_only_what_is_missing(tmp_path):
    data = review_data(num_users=4, num_items=30)
    with FakeOpenAIServer() as server:
        first = OpenAIProfiler(**profiler_kwargs(server.url, str(tmp_path),
                                                 shard=(0, 3)))
        first.profile(data, ITEM)
        asked = {r['pid'] for r in server.requests}
        profiler = OpenAIProfiler(**profiler_kwargs(server.url,
                                                    str(tmp_path)))
        counts = profiler.profile(data, ITEM)
    assert counts == dict(nodes=30, cached=10, asked=20, failed=0)
    assert not asked & {r['pid'] for r in server.requests[10:]}
