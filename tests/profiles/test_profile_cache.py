import json
import logging
import os
import sqlite3
import subprocess
import sys

import pytest

from rlmrec_pyg.profiles import ProfileCache, prompt_hash


def test_prompt_hash_changes_with_every_part():
    base = prompt_hash('gpt-3.5-turbo', 'system', 'prompt')
    assert len(base) == 32 and base == prompt_hash('gpt-3.5-turbo', 'system',
                                                   'prompt')
    assert base != prompt_hash('gpt-4o', 'system', 'prompt')
    assert base != prompt_hash('gpt-3.5-turbo', 'system!', 'prompt')
    assert base != prompt_hash('gpt-3.5-turbo', 'systemp', 'rompt')


def rows(path):
    con = sqlite3.connect(path)
    try:
        return con.execute('SELECT node_type, node_id, hash, status '
                           'FROM answers ORDER BY node_id').fetchall()
    finally:
        con.close()


def test_add_reload_and_one_answer_per_key(tmp_path):
    cache = ProfileCache(str(tmp_path / 'sub'))
    assert cache.path == str(tmp_path / 'sub' / 'profiles.sqlite')
    key = cache.key('item', 3, 'abc')
    cache.add(key, status='failed', error='HTTP 500')
    assert cache.get(key) is None and cache.failure(key)['error'] == \
        'HTTP 500' and key in cache.failed
    cache.add(key, status='ok', summarization='s', reasoning='r')
    with pytest.raises(ValueError, match='already holds an answer'):
        cache.add(key, status='ok', summarization='again', reasoning='')
    cache.add(key, status='failed', error='late')  # never replaces an answer
    cache.add(cache.key('user', 0, 'def'), status='ok', summarization='u',
              reasoning='')
    with pytest.raises(ValueError, match="'status' must be 'ok' or"):
        cache.add(cache.key('user', 1, 'x'), status='maybe')
    again = ProfileCache(str(tmp_path / 'sub' / 'profiles.sqlite'))
    assert len(again) == 2 and not again.failed
    assert again.get(key)['summarization'] == 's'
    assert again.failure(key) is None
    assert rows(cache.path) == [('user', 0, 'def', 'ok'),
                                ('item', 3, 'abc', 'ok')]


def test_one_writer_per_shard(tmp_path):
    folder = str(tmp_path)
    with ProfileCache(folder).locked():
        with pytest.raises(RuntimeError, match='in use by another process'):
            with ProfileCache(folder).locked():
                pass
        with ProfileCache(folder, shard=(1, 2)).locked():  # another shard
            with pytest.raises(RuntimeError, match='in use by another'):
                with ProfileCache(folder, shard=(1, 2)).locked():
                    pass
    with ProfileCache(folder).locked() as cache:
        assert len(cache) == 0


def test_shards_write_their_own_files_and_read_all(tmp_path):
    folder = str(tmp_path)
    first = ProfileCache(folder, shard=(0, 2))
    second = ProfileCache(folder, shard=(1, 2))
    assert first.path.endswith('profiles-shard-0-of-2.sqlite')
    first.add(first.key('item', 0, 'a'), status='ok', summarization='0',
              reasoning='')
    second.add(second.key('item', 1, 'b'), status='ok', summarization='1',
               reasoning='')
    # Each sees the other's answer (so it is never asked twice), and the
    # unsharded cache sees both.
    assert second.get(second.key('item', 0, 'a'))['summarization'] == '0'
    assert first.get(first.key('item', 1, 'b'))['summarization'] == '1'
    assert sorted(ProfileCache(folder).ok) == [('item', 0, 'a'),
                                               ('item', 1, 'b')]
    assert rows(first.path) == [('item', 0, 'a', 'ok')]


def test_two_processes_write_shards_at_once(tmp_path):
    script = ("import sys\nfrom rlmrec_pyg.profiles import ProfileCache\n"
              "i = int(sys.argv[1])\n"
              "cache = ProfileCache(sys.argv[2], shard=(i, 2))\n"
              "with cache.locked():\n"
              "    for n in range(i, 400, 2):\n"
              "        cache.add(cache.key('item', n, 'h'), status='ok',\n"
              "                  summarization=str(n), reasoning='')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    procs = [subprocess.Popen([sys.executable, '-c', script, str(i),
                               str(tmp_path)], env=env) for i in (0, 1)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    ok = ProfileCache(str(tmp_path)).ok
    assert sorted(k[1] for k in ok) == list(range(400))
    assert all(rec['summarization'] == str(k[1]) for k, rec in ok.items())


def test_legacy_jsonl_is_imported_once(tmp_path, caplog):
    # A cache of earlier versions: answers, a failure, an answer that wins
    # over an earlier failure, a corrupt line and a last line cut short.
    def record(node_id, status, **extra):
        return json.dumps(dict(node_type='item', node_id=node_id, hash='h',
                               status=status, **extra)).encode() + b'\n'

    raw = (record(0, 'ok', summarization='s0', reasoning='r') +
           record(1, 'failed', error='HTTP 500') +
           record(2, 'failed', error='HTTP 429') +
           record(2, 'ok', summarization='s2', reasoning='r') +
           b'{"node_type": "item", "no\n' +
           record(3, 'ok', summarization='s3', reasoning='r')[:20])
    legacy = tmp_path / 'profiles.jsonl'
    legacy.write_bytes(raw)
    with caplog.at_level(logging.INFO):
        cache = ProfileCache(str(tmp_path))
    assert {k[1]: r['summarization'] for k, r in cache.ok.items()} == {
        0: 's0', 2: 's2'}
    assert list(cache.failed) == [('item', 1, 'h')]
    assert f'{legacy}:5 (not JSON' in caplog.text
    assert f'{legacy}:6 (cut short)' in caplog.text
    assert legacy.read_bytes() == raw  # left as it was
    # Imported once: a second open (or a shard) adds nothing again.
    cache.add(cache.key('item', 1, 'h'), status='ok', summarization='s1',
              reasoning='')
    ProfileCache(str(tmp_path))
    ProfileCache(str(tmp_path), shard=(0, 3))
    assert len(ProfileCache(str(tmp_path))) == 3
    assert [r[1] for r in rows(cache.path)] == [0, 1, 2]
