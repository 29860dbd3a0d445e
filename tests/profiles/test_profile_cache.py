import json

import pytest

from rlmrec_pyg.profiles import ProfileCache, prompt_hash


def test_prompt_hash_changes_with_every_part():
    base = prompt_hash('gpt-3.5-turbo', 'system', 'prompt')
    assert len(base) == 32 and base == prompt_hash('gpt-3.5-turbo', 'system',
                                                   'prompt')
    assert base != prompt_hash('gpt-4o', 'system', 'prompt')
    assert base != prompt_hash('gpt-3.5-turbo', 'system!', 'prompt')
    assert base != prompt_hash('gpt-3.5-turbo', 'systemp', 'rompt')


def test_append_reload_and_one_answer_per_key(tmp_path):
    path = str(tmp_path / 'sub' / 'profiles.jsonl')
    cache = ProfileCache(path)
    key = cache.key('item', 3, 'abc')
    cache.add(key, status='failed', error='HTTP 500')
    assert cache.get(key) is None and key in cache.failed
    cache.add(key, status='ok', summarization='s', reasoning='r')
    with pytest.raises(ValueError, match='already holds an answer'):
        cache.add(key, status='ok', summarization='again', reasoning='')
    cache.add(cache.key('user', 0, 'def'), status='ok', summarization='u',
              reasoning='')
    again = ProfileCache(path)
    assert len(again) == 2 and not again.failed
    assert again.get(key)['summarization'] == 's'
    assert [json.loads(x)['status'] for x in open(path)] == \
        ['failed', 'ok', 'ok']


def test_truncated_last_line_is_dropped(tmp_path):
    path = tmp_path / 'profiles.jsonl'
    cache = ProfileCache(str(path))
    cache.add(cache.key('item', 0, 'a'), status='ok', summarization='s',
              reasoning='r')
    with open(path, 'a') as f:
        f.write('{"node_type": "item", "node_id": 1, "ha')  # Killed here.
    cache = ProfileCache(str(path))
    assert len(cache) == 1
    cache.add(cache.key('item', 1, 'b'), status='ok', summarization='t',
              reasoning='')
    assert [json.loads(x)['node_id'] for x in open(path)] == [0, 1]


def test_one_writer_at_a_time(tmp_path):
    path = str(tmp_path / 'profiles.jsonl')
    with ProfileCache(path).locked():
        with pytest.raises(RuntimeError, match='in use by another process'):
            with ProfileCache(path).locked():
                pass
    with ProfileCache(path).locked() as cache:
        assert len(cache) == 0
