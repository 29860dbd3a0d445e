r"""The OpenAI Batch API path of :class:`OpenAIProfiler` (half price, up to
24 hours): write the JSONL requests, upload, submit, poll, ingest."""
import json
import logging
import os.path as osp
import time
from typing import Any, Callable, Dict, List, Protocol

from tqdm import tqdm

from rlmrec_pyg.io import CorruptFileError, atomic_write
from rlmrec_pyg.profiles.cache import Key, ProfileCache
from rlmrec_pyg.profiles.parsing import ProfileParseError, parse_profile
from rlmrec_pyg.profiles.usage import Usage
from rlmrec_pyg.typing import NodeType

log = logging.getLogger(__name__)

#: The Batch API's limit of requests per input file.
MAX_REQUESTS = 50_000
DONE = ('completed', 'failed', 'expired', 'cancelled')


class BatchProfiler(Protocol):
    r"""What the Batch API path needs of a profiler (:class:`~rlmrec_pyg.
    profiles.OpenAIProfiler` has it): where answers go, how requests look
    and how errors are redacted."""
    cache: ProfileCache
    cache_dir: str
    max_retries: int
    poll_interval: float
    usage: Usage

    def client_kwargs(self) -> Dict[str, Any]:
        ...

    def request_body(self, system: str, prompt: str) -> Dict[str, Any]:
        ...

    def redact(self, text: str) -> str:
        ...

    def describe_error(self, error: BaseException) -> str:
        ...


def custom_id(key: Key) -> str:
    return f'{key[0]}-{key[1]}-{key[2]}'


def parse_custom_id(value: str) -> Key:
    node_type, node_id, hash = value.rsplit('-', 2)
    return ProfileCache.key(node_type, int(node_id), hash)


class BatchState:
    r"""The submitted, not yet ingested batches, saved in
    :obj:`<cache_dir>/batches.json` before polling starts, so that a killed
    run picks its paid batches up again instead of submitting them twice."""
    def __init__(self, cache_dir: str) -> None:
        self.path = osp.join(cache_dir, 'batches.json')
        self.pending: Dict[str, str] = {}  # batch id -> node type
        if osp.exists(self.path):
            self.pending = self._read()

    def _read(self) -> Dict[str, str]:
        try:
            with open(self.path, encoding='utf-8') as f:
                pending = json.load(f)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            pending = e
        if not isinstance(pending, dict) or not all(
                isinstance(k, str) and isinstance(v, str)
                for k, v in pending.items()):
            # Not quarantined: it holds the ids of batches already paid for.
            raise CorruptFileError(
                f"'{self.path}' is not the JSON object of pending batches "
                f"({{batch id: node type}}) this library writes ({pending}); "
                f"it lists Batch API jobs already submitted and paid for: "
                f"repair it by hand (ids are on the provider's dashboard), "
                f"or delete it to stop collecting those batches")
        return pending

    def save(self) -> None:
        r"""Writes the pending batches crash-safely."""
        atomic_write(self.path, lambda f: json.dump(self.pending, f), 'w')


def _call(profiler: BatchProfiler, state: BatchState, what: str,
          request: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    r"""Sends one Batch API request; an SDK error (which may echo the key)
    becomes one redacted :class:`RuntimeError` that says what failed and
    that a rerun resumes."""
    import openai
    try:
        return request(*args, **kwargs)
    except openai.OpenAIError as e:
        error = profiler.describe_error(e)
    raise RuntimeError(
        f"The Batch API request {what} failed ({error}); check the model, "
        f"base URL and API key. The answers received so far are in "
        f"'{profiler.cache.path}' and the pending batch ids in "
        f"'{state.path}', so running again resumes") from None


def run_batch(profiler: BatchProfiler, node_type: NodeType, system: str,
              prompts: List[str], keys: List[Key], todo: List[int]) -> None:
    r"""Asks for the :obj:`todo` prompts through the Batch API and appends
    every answer (or failure) to the profiler's cache. Pending batches of a
    killed run are ingested first."""
    from openai import OpenAI
    kwargs = profiler.client_kwargs()
    kwargs['max_retries'] = profiler.max_retries  # Control calls: SDK's.
    client = OpenAI(**kwargs)
    state = BatchState(profiler.cache_dir)
    for batch_id, pending_type in list(state.pending.items()):
        if pending_type == node_type:
            log.info(f"Resuming the pending batch '{batch_id}'")
            _finish(profiler, client, state, batch_id)
    # Failed answers go into another batch, up to 'max_retries' times.
    for _ in range(profiler.max_retries + 1):
        todo = [i for i in todo if not profiler.cache.get(keys[i])]
        for start in range(0, len(todo), MAX_REQUESTS):
            _submit(profiler, client, state, node_type, system, prompts,
                    keys, todo[start:start + MAX_REQUESTS])


def _submit(profiler: BatchProfiler, client: Any, state: BatchState,
            node_type: NodeType, system: str, prompts: List[str],
            keys: List[Key], chunk: List[int]) -> None:
    path = osp.join(profiler.cache_dir,
                    f'batch-{node_type}-{time.time_ns()}.jsonl')
    with open(path, 'w', encoding='utf-8') as f:
        for i in chunk:
            f.write(json.dumps(dict(
                custom_id=custom_id(keys[i]), method='POST',
                url='/v1/chat/completions',
                body=profiler.request_body(system, prompts[i])),
                ensure_ascii=False) + '\n')
    with open(path, 'rb') as f:
        file = _call(profiler, state, f"uploading '{path}'",
                     client.files.create, file=f, purpose='batch')
    batch = _call(profiler, state, f"creating a batch of '{file.id}'",
                  client.batches.create, input_file_id=file.id,
                  endpoint='/v1/chat/completions', completion_window='24h')
    state.pending[batch.id] = node_type
    state.save()
    log.info(f"Submitted batch '{batch.id}' ({len(chunk)} {node_type} "
             f"requests, file '{path}')")
    _finish(profiler, client, state, batch.id)


def _finish(profiler: BatchProfiler, client: Any, state: BatchState,
            batch_id: str) -> None:
    what = f"polling batch '{batch_id}'"
    batch = _call(profiler, state, what, client.batches.retrieve, batch_id)
    with tqdm(desc=f'batch {batch_id}', disable=None) as bar:
        while batch.status not in DONE:
            time.sleep(profiler.poll_interval)
            batch = _call(profiler, state, what, client.batches.retrieve,
                          batch_id)
            counts = batch.request_counts
            if counts is not None:
                bar.total = counts.total
                bar.n = counts.completed + counts.failed
                bar.refresh()
    log.info(f"Batch '{batch_id}' is {batch.status}")
    for file_id in (batch.output_file_id, batch.error_file_id):
        if file_id:
            text = _call(profiler, state, f"downloading '{file_id}' of "
                         f"batch '{batch_id}'", client.files.content,
                         file_id).text
            for line in text.splitlines():
                if line.strip():
                    _ingest(profiler, json.loads(line))
    del state.pending[batch_id]
    state.save()


def _ingest(profiler: BatchProfiler, line: Dict[str, Any]) -> None:
    key = parse_custom_id(line['custom_id'])
    if profiler.cache.get(key) is not None:
        return  # Already answered (e.g. by a later async run).
    response = line.get('response') or {}
    body = response.get('body') or {}
    error = line.get('error')
    if response.get('status_code') == 200 and not error:
        profiler.usage.add(body.get('usage'))
        choices = body.get('choices') or [{}]
        content = (choices[0].get('message') or {}).get('content')
        try:
            summary, reasoning = parse_profile(content)
        except ProfileParseError as e:
            error = f'Unparseable answer: {e}'
        else:
            profiler.cache.add(key, status='ok', summarization=summary,
                               reasoning=reasoning, model=body.get('model'),
                               usage=body.get('usage'), attempts=1,
                               batch=True)
            return
    error = error or body.get('error') or response.get('status_code')
    profiler.cache.add(key, status='failed', attempts=1, batch=True,
                       error=profiler.redact(json.dumps(error)))
