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


def _fill(cache, num):
    for i in range(num):
        cache.add(cache.key('item', i, 'h'), status='ok',
                  summarization=f's{i}', reasoning='r')


CORRUPT = {
    'invalid JSON': b'{"node_type": "item", "node_id": 1, "ha',
    'bad UTF-8': b'{"node_type": "item\xff\xfe", "node_id": 1}',
    'a JSON list': b'[1, 2]',
    'a record without hash': b'{"node_type": "item", "node_id": 1, '
                             b'"status": "ok"}',
    'an ok record without summarization': b'{"node_type": "item", '
    b'"node_id": 1, "hash": "h", "status": "ok"}',
}


@pytest.mark.parametrize('kind', list(CORRUPT))
def test_unlocked_read_skips_a_corrupt_line_in_memory(tmp_path, caplog,
                                                      kind):
    # Catches: a parse error that escapes (crash loop), or an unlocked
    # reader that rewrites the file.
    path = tmp_path / 'profiles.jsonl'
    _fill(ProfileCache(str(path)), 3)
    lines = path.read_bytes().split(b'\n')
    lines[1] = CORRUPT[kind]
    path.write_bytes(b'\n'.join(lines))
    before = path.read_bytes()
    cache = ProfileCache(str(path))
    assert sorted(k[1] for k in cache.ok) == [0, 2]
    assert path.read_bytes() == before
    assert not (tmp_path / 'profiles.jsonl.quarantine').exists()
    assert f'{path}:2' in caplog.text


def test_corrupt_lines_are_quarantined_and_only_they_asked_again(
        tmp_path, caplog):
    # Catches: no quarantine entry, a repair that drops good lines or keeps
    # corrupt ones, a profiler that asks again for more than the lost keys.
    from fake_openai_server import FakeOpenAIServer, prompt_id
    from profile_helpers import ok_per_node, profiler_kwargs, review_data

    from rlmrec_pyg.profiles import OpenAIProfiler
    from rlmrec_pyg.typing import ITEM, PROFILE, USER

    data = review_data(num_users=3, num_items=5)
    with FakeOpenAIServer() as server:
        first = OpenAIProfiler(**profiler_kwargs(server.url, str(tmp_path)))
        first(data)
    path = tmp_path / 'profiles.jsonl'
    lines = path.read_bytes().split(b'\n')
    where = {(rec['node_type'], rec['node_id']): n
             for n, rec in enumerate(map(json.loads, lines[:-1]))}
    lost = {('item', 1): b'{"node_type": "item", "node_id": 1, "ha',
            ('item', 3): b'{"summarization": "\xff\xfe"}',
            ('user', 2): b'["not", "a", "record"]'}
    for node, line in lost.items():
        lines[where[node]] = line
    path.write_bytes(b'\n'.join(lines))
    kept = [line for n, line in enumerate(lines[:-1])
            if n not in {where[node] for node in lost}]

    with FakeOpenAIServer() as server:
        profiler = OpenAIProfiler(**profiler_kwargs(server.url,
                                                    str(tmp_path)))
        out = profiler(data)
    items = [f'profile {prompt_id(p)}' for p in profiler.prompts(data, ITEM)]
    assert out[ITEM][PROFILE] == items
    asked = sorted(r['pid'] for r in server.requests)
    want = [profiler.prompts(data, ITEM)[1], profiler.prompts(data, ITEM)[3],
            profiler.prompts(data, USER, items)[2]]
    assert asked == sorted(prompt_id(p) for p in want)
    quarantined = [json.loads(x) for x in open(f'{path}.quarantine')]
    assert sorted(q['source'] for q in quarantined) == sorted(
        f'{path}:{where[node] + 1}' for node in lost)
    assert {q['line'].encode('utf-8', 'surrogateescape')
            for q in quarantined} == set(lost.values())
    new = path.read_bytes().split(b'\n')
    assert new[:len(kept)] == kept  # Every good line survives unchanged.
    assert set(ok_per_node(str(path)).values()) == {1}
    assert len(ok_per_node(str(path))) == 8
    assert str(path) + '.quarantine' in caplog.text


def test_unlocked_reader_never_changes_a_locked_cache(tmp_path):
    # Catches: a repair (truncation or rewrite) without the lock, and an
    # 'add' that writes without taking the lock.
    from profile_helpers import profiler_kwargs, review_data

    from rlmrec_pyg.profiles import OpenAIProfiler

    path = tmp_path / 'profiles.jsonl'
    writer = ProfileCache(str(path))
    _fill(writer, 3)
    with writer.locked():
        with open(path, 'ab') as f:  # The writer's next line, half done,
            f.write(b'{"node_type": "item", "node_id": 7, "h')
        lines = path.read_bytes().split(b'\n')
        lines[0] = b'not json'  # and a corrupt line before it.
        path.write_bytes(b'\n'.join(lines))
        before = path.read_bytes()
        reader = ProfileCache(str(path))
        assert sorted(k[1] for k in reader.ok) == [1, 2]
        report = OpenAIProfiler(**profiler_kwargs(
            'http://127.0.0.1:9/v1', str(tmp_path))).dry_run(
                review_data(num_users=2, num_items=2))
        assert report['item']['to_ask'] == 2
        with pytest.raises(RuntimeError, match='in use by another process'):
            reader.add(reader.key('item', 9, 'h'), status='failed')
        assert path.read_bytes() == before
    assert not (tmp_path / 'profiles.jsonl.quarantine').exists()
