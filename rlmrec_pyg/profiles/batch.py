r"""The OpenAI Batch API path of :class:`OpenAIProfiler` (half price, up to
24 hours): stream the requests into input files of at most 50,000 lines,
keep several batches in flight under a cap of enqueued requests and
tokens, poll, ingest. Nothing is submitted twice, whenever the process is
killed: every input file is planned (saved) before it is uploaded, and a
plan whose batch may exist is matched with the provider's list of batches
before anything is created."""
import json
import logging
import os
import os.path as osp
import time
from typing import (Any, Callable, Dict, Iterable, Iterator, List, Optional,
                    Protocol, Tuple)

from tqdm import tqdm

from rlmrec_pyg.io import CorruptFileError, atomic_write
from rlmrec_pyg.profiles.cache import Key, ProfileCache
from rlmrec_pyg.profiles.parsing import ProfileParseError, parse_profile
from rlmrec_pyg.profiles.usage import Usage, estimate_tokens
from rlmrec_pyg.typing import NodeType

log = logging.getLogger(__name__)

#: The Batch API's limit of requests per input file.
MAX_REQUESTS = 50_000
DONE = ('completed', 'failed', 'expired', 'cancelled')


class BatchProfiler(Protocol):
    r"""What the Batch API path needs of a profiler (:class:`~rlmrec_pyg.
    profiles.OpenAIProfiler` has it): where answers go, how requests look,
    the caps on what is enqueued and how errors are redacted."""
    cache: ProfileCache
    cache_dir: str
    max_retries: int
    poll_interval: float
    batch_max_requests: int
    batch_max_tokens: int
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


def _read_json(path: str, check: Callable[[Any], bool], what: str) -> Any:
    try:
        with open(path, encoding='utf-8') as f:
            value = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        value = e
    if not check(value):
        # Not quarantined: it lists batches already submitted and paid for.
        raise CorruptFileError(
            f"'{path}' is not the JSON object of {what} this library writes "
            f"({value}); it lists Batch API jobs already submitted and paid "
            f"for: repair it by hand (ids are on the provider's dashboard), "
            f"or delete it to stop collecting those batches")
    return value


class BatchState:
    r"""What a killed run must find again, saved crash-safely in
    :obj:`cache_dir`: the submitted, not yet ingested batches
    (:obj:`batches.json`, ``{batch id: node type}``), saved before polling
    starts, and the planned submissions (:obj:`batch-plans.json`,
    ``{input file: {"node_type", "requests", "tokens", "file_id"}}``),
    saved before the upload, so that a run killed between the upload and
    the save of a batch id finds its batch (by its input file) instead of
    submitting it twice."""
    def __init__(self, cache_dir: str) -> None:
        self.path = osp.join(cache_dir, 'batches.json')
        self.plans_path = osp.join(cache_dir, 'batch-plans.json')
        self.pending: Dict[str, str] = {}  # batch id -> node type
        self.plans: Dict[str, Dict[str, Any]] = {}  # input file -> plan
        if osp.exists(self.path):
            self.pending = _read_json(self.path, lambda v: isinstance(
                v, dict) and all(isinstance(k, str) and isinstance(t, str)
                                 for k, t in v.items()),
                'pending batches ({batch id: node type})')
        if osp.exists(self.plans_path):
            self.plans = _read_json(self.plans_path, lambda v: isinstance(
                v, dict) and all(isinstance(k, str) and isinstance(p, dict)
                                 and isinstance(p.get('node_type'), str)
                                 for k, p in v.items()),
                'planned batches ({input file: plan})')

    def save(self) -> None:
        r"""Writes the pending batches and the plans crash-safely."""
        atomic_write(self.path, lambda f: json.dump(self.pending, f), 'w')
        atomic_write(self.plans_path, lambda f: json.dump(self.plans, f),
                     'w')


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


class _Round:
    r"""One pass of the Batch API over the requests of one node type."""
    def __init__(self, profiler: BatchProfiler, node_type: NodeType,
                 system: str) -> None:
        from openai import OpenAI
        kwargs = profiler.client_kwargs()
        kwargs['max_retries'] = profiler.max_retries  # Control calls: SDK's.
        self.client = OpenAI(**kwargs)
        self.profiler, self.node_type, self.system = profiler, node_type, \
            system
        self.state = BatchState(profiler.cache_dir)
        self.in_flight: Dict[str, Tuple[int, int]] = {}  # id -> (n, tokens)
        self.submitted = 0
        self.bar = tqdm(desc=f'batch {node_type} requests', unit='request',
                        disable=None)

    def call(self, what: str, request: Callable[..., Any], *args: Any,
             **kwargs: Any) -> Any:
        return _call(self.profiler, self.state, what, request, *args,
                     **kwargs)

    # Resuming ------------------------------------------------------------

    def resume(self) -> None:
        r"""Takes up the pending batches and the plans of a killed run."""
        for name, plan in list(self.state.plans.items()):
            if plan['node_type'] == self.node_type:
                self._submit_plan(name, plan, adopt=True)
        for batch_id, node_type in self.state.pending.items():
            if node_type == self.node_type and batch_id not in \
                    self.in_flight:
                log.info(f"Resuming the pending batch '{batch_id}'")
                self.in_flight[batch_id] = (0, 0)

    def _find(self, file_id: str) -> Any:
        r"""The provider's batch of the input file :obj:`file_id`, if any."""
        page = self.call('listing the batches', self.client.batches.list,
                         limit=100)
        for batch in page:  # The SDK fetches the next pages as needed.
            if batch.input_file_id == file_id:
                return batch
        return None

    # Submitting ----------------------------------------------------------

    def _plan(self, lines: List[str], requests: int, tokens: int) -> None:
        name = f'batch-{self.node_type}-{time.time_ns()}.jsonl'
        atomic_write(osp.join(self.profiler.cache_dir, name),
                     lambda f: f.write(''.join(lines)), 'w')
        plan = dict(node_type=self.node_type, requests=requests,
                    tokens=tokens, file_id=None)
        self.state.plans[name] = plan
        self.state.save()  # Planned before anything leaves this machine.
        self._submit_plan(name, plan, adopt=False)

    def _submit_plan(self, name: str, plan: Dict[str, Any],
                     adopt: bool) -> None:
        path = osp.join(self.profiler.cache_dir, name)
        batch = None
        if adopt and plan.get('file_id'):
            batch = self._find(plan['file_id'])
            if batch is not None:
                log.info(f"Found the batch '{batch.id}' of '{path}', "
                         f"submitted before the last run stopped")
        if batch is None:
            if not plan.get('file_id'):
                with open(path, 'rb') as f:
                    file = self.call(f"uploading '{path}'",
                                     self.client.files.create, file=f,
                                     purpose='batch')
                plan['file_id'] = file.id
                self.state.save()
            batch = self.call(f"creating a batch of '{plan['file_id']}'",
                              self.client.batches.create,
                              input_file_id=plan['file_id'],
                              endpoint='/v1/chat/completions',
                              completion_window='24h')
            log.info(f"Submitted batch '{batch.id}' ({plan['requests']} "
                     f"{self.node_type} requests, file '{path}')")
        self.state.pending[batch.id] = self.node_type
        del self.state.plans[name]
        self.state.save()
        if osp.exists(path):  # The provider holds it now.
            os.remove(path)
        self.in_flight[batch.id] = (plan['requests'], plan['tokens'])
        self.submitted += plan['requests']

    def enqueued(self) -> Tuple[int, int]:
        return (sum(n for n, _ in self.in_flight.values()),
                sum(t for _, t in self.in_flight.values()))

    def fill(self, todo: Iterator[Tuple[Key, str]],
             head: List[Tuple[Key, str]]) -> bool:
        r"""Submits input files from :obj:`todo` while the caps allow;
        returns whether :obj:`todo` has more. :obj:`head` holds a request
        taken from :obj:`todo` that did not fit yet."""
        cap_n = self.profiler.batch_max_requests
        cap_t = self.profiler.batch_max_tokens
        while True:
            requests, tokens = self.enqueued()
            lines: List[str] = []
            size = 0
            while len(lines) < MAX_REQUESTS:
                if not head:
                    item = next(todo, None)
                    if item is None:
                        break
                    head.append(item)
                key, prompt = head[0]
                cost = estimate_tokens(self.system) + estimate_tokens(
                    prompt) + 8
                empty = not lines and not self.in_flight
                if not empty and (requests + len(lines) + 1 > cap_n
                                  or tokens + size + cost > cap_t):
                    break  # Full: wait for a batch to end.
                lines.append(json.dumps(dict(
                    custom_id=custom_id(key), method='POST',
                    url='/v1/chat/completions',
                    body=self.profiler.request_body(self.system, prompt)),
                    ensure_ascii=False) + '\n')
                size += cost
                head.pop()
            if not lines:
                return bool(head)
            self._plan(lines, len(lines), size)

    # Polling and ingesting -----------------------------------------------

    def poll(self) -> None:
        r"""Polls every batch in flight once; ingests the ended ones."""
        for batch_id in list(self.in_flight):
            what = f"polling batch '{batch_id}'"
            batch = self.call(what, self.client.batches.retrieve, batch_id)
            if batch.status in DONE:
                self._finish(batch)

    def _finish(self, batch: Any) -> None:
        log.info(f"Batch '{batch.id}' is {batch.status}")
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                text = self.call(f"downloading '{file_id}' of batch "
                                 f"'{batch.id}'", self.client.files.content,
                                 file_id).text
                records = [_record(self.profiler, json.loads(line))
                           for line in text.splitlines() if line.strip()]
                # One transaction a file; killed meanwhile, the batch stays
                # pending and is ingested again.
                self.profiler.cache.add_many(r for r in records if r)
                self.bar.update(len(records))
        del self.state.pending[batch.id]
        self.state.save()
        del self.in_flight[batch.id]


def run_batch(profiler: BatchProfiler, node_type: NodeType, system: str,
              todo: Iterable[Tuple[Key, str]]) -> int:
    r"""Asks for every :obj:`(key, prompt)` of :obj:`todo` (read lazily,
    after the batches of a killed run are ingested) through the Batch API
    and stores every answer (or failure) in the profiler's cache; returns
    the number of requests submitted.

    Input files hold at most 50,000 requests; new files are submitted while
    the batches in flight hold fewer than :obj:`batch_max_requests`
    requests and :obj:`batch_max_tokens` estimated prompt tokens (the
    provider's enqueued-token limit), polled every :obj:`poll_interval`
    seconds."""
    round_ = _Round(profiler, node_type, system)
    with round_.bar:
        round_.resume()
        while round_.in_flight:  # A killed run's batches first.
            time.sleep(profiler.poll_interval)
            round_.poll()
        todo, head = iter(todo), []
        more = round_.fill(todo, head)
        while round_.in_flight:
            time.sleep(profiler.poll_interval)
            round_.poll()
            if more:
                more = round_.fill(todo, head)
    return round_.submitted


def _record(profiler: BatchProfiler, line: Dict[str, Any]
            ) -> Optional[Tuple[Key, Dict[str, Any]]]:
    r"""The :obj:`(key, record)` of one output or error line, or
    :obj:`None` when its key is answered already."""
    key = parse_custom_id(line['custom_id'])
    if profiler.cache.get(key) is not None:
        return None  # Already answered (e.g. by a later async run).
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
            return key, dict(status='ok', summarization=summary,
                             reasoning=reasoning, model=body.get('model'),
                             usage=body.get('usage'), attempts=1,
                             batch=True)
    error = error or body.get('error') or response.get('status_code')
    return key, dict(status='failed', attempts=1, batch=True,
                     error=profiler.redact(json.dumps(error)))
