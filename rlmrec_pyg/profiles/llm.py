r"""LLM profiling through any OpenAI-compatible server (RLMRec,
`"Representation Learning with Large Language Models for Recommendation"
<https://arxiv.org/abs/2310.15950>`_, Sec. 3.2, Eq. 13-14)."""
import asyncio
import json
import logging
import os
import os.path as osp
import random
from typing import (Any, Callable, Dict, Iterator, List, Optional, Sequence,
                    Tuple)

from torch_geometric.data import HeteroData
from tqdm import tqdm

from rlmrec_pyg.profiles.batch import run_batch
from rlmrec_pyg.profiles.cache import Key, ProfileCache, prompt_hash
from rlmrec_pyg.profiles.parsing import ProfileParseError, parse_profile
from rlmrec_pyg.profiles.profiler import Profiler, Profiles
from rlmrec_pyg.profiles.prompt import (
    item_prompt_of,
    load_system_prompt,
    user_prompt_of,
)
from rlmrec_pyg.profiles.retry import (
    FATAL_STATUS,
    RETRY_STATUS,
    retry_after,
    run_sync,
)
from rlmrec_pyg.profiles.usage import Usage, estimate_cost, estimate_tokens
from rlmrec_pyg.secrets import describe_api_error, redact
from rlmrec_pyg.typing import ITEM, USER, NodeType

log = logging.getLogger(__name__)

MODES = ('async', 'batch')


class OpenAIProfiler(Profiler):
    r"""Profiles written by an LLM behind an OpenAI-compatible chat
    completions endpoint (OpenAI, vLLM, Ollama, llama.cpp server), with
    RLMRec's system prompts: items first, then users from the profiles of
    their training items and their own reviews.

    Every answer is committed to the SQLite :class:`ProfileCache` in
    :obj:`cache_dir` as soon as it arrives, keyed by node type, node id and
    the hash of (model, system prompt, prompt); a run killed at any moment
    and started again asks only for what is missing. Prompts are made one
    at a time as requests go out (memory does not grow with the
    catalogue), with a progress bar (rate, ETA). Several processes or
    machines sharing :obj:`cache_dir` can profile disjoint shards at once
    (:obj:`shard`); a shard's answers are seen by all. Requests run
    concurrently (at most :obj:`max_concurrency`); HTTP 408/409/429/5xx,
    timeouts, connection errors *and unparseable answers* are retried with
    exponential backoff (a server's ``Retry-After`` is honoured); a node
    whose retries are exhausted is recorded as failed in the cache, gets the
    profile :obj:`"None"`, and is asked again by the next run. With
    :obj:`mode='batch'` the requests go through the OpenAI Batch API
    (:mod:`rlmrec_pyg.profiles.batch`). The API key is read from
    :obj:`api_key` or the environment (``OPENAI_API_KEY``) and never
    logged, cached or shown in :meth:`__repr__` or errors.

    .. code-block:: python

        profiler = OpenAIProfiler(domain='movie', model='gpt-4o-mini',
                                  cache_dir='cache/profiles')
        print(profiler.dry_run(data))  # prompts, tokens, cost; no request
        data = profiler(data)

    Args:
        domain (str, optional): Domain or dataset name of the prompts.
            (default: :obj:`'movie'`)
        model (str, optional): Chat model. (default: :obj:`'gpt-3.5-turbo'`,
            as in the paper)
        cache_dir (str, optional): Folder of the answer cache.
            (default: :obj:`'profile_cache'`)
        base_url (str, optional): Server URL (:obj:`None`: the SDK default
            or ``OPENAI_BASE_URL``). (default: :obj:`None`)
        api_key (str, optional): API key (:obj:`None`: ``OPENAI_API_KEY``;
            :obj:`"EMPTY"` for a local server without one).
        mode (str, optional): :obj:`'async'` or :obj:`'batch'`.
            (default: :obj:`'async'`)
        max_concurrency (int, optional): Requests in flight.
            (default: :obj:`8`)
        max_retries (int, optional): Retries per node. (default: :obj:`5`)
        timeout (float, optional): Seconds per request. (default: :obj:`60`)
        backoff (float, optional): First backoff delay in seconds, doubled
            per retry with up to 25% jitter. (default: :obj:`0.5`)
        max_backoff (float, optional): Largest delay. (default: :obj:`8`)
        max_retry_after (float, optional): Largest ``Retry-After`` obeyed.
            (default: :obj:`120`)
        json_mode (bool, optional): Ask for
            ``response_format={"type": "json_object"}``; turned off when the
            server rejects it. (default: :obj:`True`)
        temperature (float, optional): Sampling temperature (:obj:`None`:
            server default, as in the paper). (default: :obj:`None`)
        max_tokens (int, optional): Completion token limit.
        extra_body (dict, optional): Extra request fields (e.g. vLLM's).
        poll_interval (float, optional): Seconds between Batch API polls.
            (default: :obj:`30`)
        batch_max_requests (int, optional): Requests in the batches in
            flight at once (new input files wait below it).
            (default: :obj:`1_000_000`)
        batch_max_tokens (int, optional): Estimated prompt tokens in the
            batches in flight at once: the provider's enqueued-token limit
            of the model for your tier. (default: :obj:`2_000_000_000`)
        price_per_1m (List[float], optional): USD per million prompt and
            completion tokens for the cost estimate (default: list price).
        est_completion_tokens (int, optional): Completion tokens per answer
            assumed by :meth:`dry_run`. (default: :obj:`250`)
        shard (Tuple[int, int], optional): :obj:`(index, count)`: profile
            only the nodes :obj:`index, index + count, ...` (one process or
            machine per shard; items of every shard before users).
            (default: :obj:`None`)
        **kwargs (optional): :obj:`num_reviews`, :obj:`num_items`,
            :obj:`max_words`, :obj:`seed` of :class:`Profiler`.
    """
    def __init__(self, domain: str = 'movie', model: str = 'gpt-3.5-turbo',
                 cache_dir: str = 'profile_cache',
                 base_url: Optional[str] = None,
                 api_key: Optional[str] = None, mode: str = 'async',
                 max_concurrency: int = 8, max_retries: int = 5,
                 timeout: float = 60.0, backoff: float = 0.5,
                 max_backoff: float = 8.0, max_retry_after: float = 120.0,
                 json_mode: bool = True, temperature: Optional[float] = None,
                 max_tokens: Optional[int] = None,
                 extra_body: Optional[Dict[str, Any]] = None,
                 poll_interval: float = 30.0,
                 batch_max_requests: int = 1_000_000,
                 batch_max_tokens: int = 2_000_000_000,
                 price_per_1m: Optional[Sequence[float]] = None,
                 est_completion_tokens: int = 250,
                 shard: Optional[Sequence[int]] = None,
                 **kwargs: Any) -> None:
        super().__init__(domain, **kwargs)
        if shard is not None:
            if len(shard) != 2 or not 0 <= int(shard[0]) < int(shard[1]):
                raise ValueError(f"'shard' must be (index, count) with 0 <= "
                                 f"index < count in "
                                 f"'{self.__class__.__name__}' (got "
                                 f"{shard!r})")
            shard = (int(shard[0]), int(shard[1]))
        self.shard: Optional[Tuple[int, int]] = shard
        if mode not in MODES:
            raise ValueError(f"'mode' must be one of {MODES} in "
                             f"'{self.__class__.__name__}' (got '{mode}')")
        if max_concurrency < 1:
            raise ValueError(f"'max_concurrency' must be positive in "
                             f"'{self.__class__.__name__}' (got "
                             f"{max_concurrency})")
        self.model, self.base_url = model, base_url
        self.cache_dir = osp.expanduser(cache_dir)
        self._api_key = api_key
        self.mode, self.max_concurrency = mode, max_concurrency
        self.max_retries, self.timeout = max_retries, timeout
        self.backoff, self.max_backoff = backoff, max_backoff
        self.max_retry_after = max_retry_after
        self.json_mode, self.temperature = json_mode, temperature
        self.max_tokens, self.extra_body = max_tokens, extra_body
        self.poll_interval = poll_interval
        for name, value in (('batch_max_requests', batch_max_requests),
                            ('batch_max_tokens', batch_max_tokens)):
            if isinstance(value, bool) or not isinstance(value, int) \
                    or value < 1:
                raise ValueError(f"'{name}' must be a positive integer in "
                                 f"'{self.__class__.__name__}' (got "
                                 f"{value!r})")
        self.batch_max_requests = batch_max_requests
        self.batch_max_tokens = batch_max_tokens
        self.price_per_1m = price_per_1m
        self.est_completion_tokens = est_completion_tokens
        self.usage = Usage()
        self._cache: Optional[ProfileCache] = None

    @property
    def cache(self) -> ProfileCache:
        if self._cache is None:
            self._cache = ProfileCache(self.cache_dir, shard=self.shard)
        return self._cache

    def client_kwargs(self) -> Dict[str, Any]:
        r"""Arguments of the OpenAI client (SDK retries off: ours count)."""
        key = self._api_key or os.environ.get('OPENAI_API_KEY')
        if key is None and self.base_url is not None:
            key = 'EMPTY'  # Local servers need no key; the SDK needs one.
        return dict(api_key=key, base_url=self.base_url, max_retries=0,
                    timeout=self.timeout)

    def redact(self, text: str) -> str:
        r"""Returns :obj:`text` without the API key (see :func:`redact`)."""
        return redact(text, [self._api_key, os.environ.get('OPENAI_API_KEY')])

    def describe_error(self, error: BaseException) -> str:
        r"""Returns a one-line description of an SDK error without the API
        key (see :func:`~rlmrec_pyg.secrets.describe_api_error`)."""
        return describe_api_error(error, [self._api_key])

    def request_body(self, system: str, prompt: str) -> Dict[str, Any]:
        r"""The chat completions request of one prompt."""
        body: Dict[str, Any] = dict(
            model=self.model, messages=[
                dict(role='system', content=system),
                dict(role='user', content=prompt)
            ])
        if self.json_mode:
            body['response_format'] = {'type': 'json_object'}
        for name in ('temperature', 'max_tokens'):
            if getattr(self, name) is not None:
                body[name] = getattr(self, name)
        return body

    def nodes(self, num_nodes: int) -> range:
        r"""The node ids of this profiler's shard (every :obj:`count`-th
        node from :obj:`index`; all nodes without a shard)."""
        index, count = self.shard or (0, 1)
        return range(index, num_nodes, count)

    def prompt_of(self, data: HeteroData, node_type: NodeType,
                  item_profiles: Optional[Sequence[str]] = None
                  ) -> Callable[[int], str]:
        r"""A function of a node id returning its user prompt."""
        if node_type == ITEM:
            return item_prompt_of(data, self.domain, self.num_reviews,
                                  self.max_words, self.seed)
        assert item_profiles is not None
        return user_prompt_of(data, self.domain, item_profiles,
                              self.num_items, self.num_reviews,
                              self.max_words, self.seed)

    def prompts(self, data: HeteroData, node_type: NodeType,
                item_profiles: Optional[List[str]] = None) -> List[str]:
        r"""Returns the user prompt of every node of :obj:`node_type`."""
        prompt = self.prompt_of(data, node_type, item_profiles)
        return [prompt(i) for i in range(data[node_type].num_nodes)]

    def keys(self, node_type: NodeType, system: str,
             prompts: Sequence[str]) -> List[Key]:
        r"""Returns the cache key of every prompt (node id and prompt hash)."""
        return [
            ProfileCache.key(node_type, i, prompt_hash(self.model, system, p))
            for i, p in enumerate(prompts)
        ]

    def item_profiles(self, data: HeteroData,
                      default: str = 'None') -> Sequence[str]:
        r"""The cached profile of every item (:obj:`default` where none),
        read from the cache when indexed: the user prompts of a sharded or
        resumed run need no list of every item profile."""
        return _CachedProfiles(self, data, ITEM, default)

    def profile_items(self, data: HeteroData) -> Profiles:
        self.profile(data, ITEM)
        return self.collect(data, ITEM)

    def profile_users(self, data: HeteroData,
                      item_profiles: List[str]) -> Profiles:
        self.profile(data, USER, item_profiles)
        return self.collect(data, USER, item_profiles)

    def profile(self, data: HeteroData, node_type: NodeType,
                item_profiles: Optional[Sequence[str]] = None
                ) -> Dict[str, int]:
        r"""Asks for the answers of this shard's nodes of :obj:`node_type`
        that the cache does not hold, streaming: prompts are made one at a
        time as requests go out, so memory does not grow with the
        catalogue. Returns the counts :obj:`{'nodes', 'cached', 'asked',
        'failed'}`.

        User prompts use :obj:`item_profiles` (default: the cached item
        profiles); a sharded run refuses to profile users before every item
        has its profile (other shards may still be running), as a prompt
        with a missing item profile would be paid for and then asked again.
        """
        if node_type == USER and item_profiles is None:
            item_profiles = self.item_profiles(data)
        if node_type == USER and (self.shard or (0, 1))[1] > 1:
            missing = sum(p == 'None' for p in item_profiles)
            if missing:
                raise RuntimeError(
                    f"{missing} of {data[ITEM].num_nodes} items have "
                    f"no profile in '{self.cache.folder}' yet: profile the "
                    f"users once every item shard has finished")
        with self.cache.locked():
            return self._profile_locked(data, node_type, item_profiles)

    def _profile_locked(self, data: HeteroData, node_type: NodeType,
                        item_profiles: Optional[Sequence[str]]
                        ) -> Dict[str, int]:
        system = load_system_prompt(self.domain, node_type)
        nodes = self.nodes(data[node_type].num_nodes)
        prompt = self.prompt_of(data, node_type, item_profiles)
        counts = dict(nodes=len(nodes), cached=0, asked=0, failed=0)
        bar = tqdm(total=len(nodes), desc=f'LLM {node_type} profiles',
                   unit='node', disable=None if self.mode == 'async' else
                   True)  # Batch rounds show their own.

        def todo() -> Iterator[Tuple[Key, str]]:
            for i in nodes:
                text = prompt(i)
                key = ProfileCache.key(node_type, i,
                                       prompt_hash(self.model, system, text))
                if self.cache.get(key) is None:
                    yield key, text
                else:
                    counts['cached'] += 1
                    bar.update(1)

        shard = '' if self.shard is None else \
            f' (shard {self.shard[0]} of {self.shard[1]})'
        log.info(f"{node_type}: {len(nodes)} nodes{shard}, asking "
                 f"'{self.model}' ({self.mode}) for those not cached")
        before = Usage(**self.usage.to_dict())
        with bar:
            if self.mode == 'batch':
                # Failed lines go into the next round's batches, up to
                # 'max_retries' times.
                cached = None
                for round_ in range(self.max_retries + 1):
                    counts['cached'] = 0
                    asked = run_batch(self, node_type, system, todo())
                    cached = counts['cached'] if cached is None else cached
                    counts['asked'] += asked
                    if not asked:
                        break
                counts['failed'] = sum(1 for _ in todo())  # still missing
                counts['cached'] = cached
            else:
                run_sync(self._ask_stream(system, todo(), counts, bar))
        spent = Usage(*(a - b for a, b in zip(self.usage.to_dict().values(),
                                              before.to_dict().values())))
        cost = spent.cost(self.model, self.price_per_1m,
                          batch=self.mode == 'batch')
        log.info(f"{node_type}: {counts['cached']} cached, {counts['asked']} "
                 f"asked ({counts['failed']} failed); {spent.requests} "
                 f"requests, {spent.prompt_tokens} prompt + "
                 f"{spent.completion_tokens} completion tokens, estimated "
                 f"cost {'unknown' if cost is None else f'${cost:.4f}'}")
        return counts

    def collect(self, data: HeteroData, node_type: NodeType,
                item_profiles: Optional[Sequence[str]] = None) -> Profiles:
        r"""Returns the :obj:`(profiles, reasonings)` of every node of
        :obj:`node_type` from the cache (all shards): :obj:`"None"` and
        :obj:`""` where there is no answer (failed, or not asked yet)."""
        system = load_system_prompt(self.domain, node_type)
        if node_type == USER and item_profiles is None:
            item_profiles = self.item_profiles(data)
        prompt = self.prompt_of(data, node_type, item_profiles)
        profiles, reasonings, missing = [], [], 0
        for i in range(data[node_type].num_nodes):
            rec = self.cache.get(ProfileCache.key(
                node_type, i, prompt_hash(self.model, system, prompt(i))))
            missing += rec is None
            profiles.append(rec['summarization'] if rec else 'None')
            reasonings.append(rec['reasoning'] if rec else '')
        if missing:
            log.warning(f"{missing} {node_type} profiles failed or are not "
                        f"asked yet (failures are recorded in "
                        f"'{self.cache.folder}'); they get the profile "
                        f"'None' and are asked again by the next run")
        return profiles, reasonings

    async def _ask_stream(self, system: str,
                          todo: Iterator[Tuple[Key, str]],
                          counts: Dict[str, int], bar: Any) -> None:
        r"""Asks for every :obj:`(key, prompt)` of :obj:`todo` with
        :obj:`max_concurrency` workers fed through a bounded queue."""
        import openai
        from openai import AsyncOpenAI
        queue: asyncio.Queue = asyncio.Queue(maxsize=2 * self.max_concurrency)

        async def feed() -> None:
            for item in todo:
                await queue.put(item)
            for _ in range(self.max_concurrency):
                await queue.put(None)

        async def work(client: Any) -> None:
            while True:
                item = await queue.get()
                if item is None:
                    return
                ok = await self._ask(client, system, item[1], item[0])
                counts['asked'] += 1
                counts['failed'] += not ok
                bar.update(1)

        async with AsyncOpenAI(**self.client_kwargs()) as client:
            tasks = [asyncio.ensure_future(feed())] + [
                asyncio.ensure_future(work(client))
                for _ in range(self.max_concurrency)
            ]
            try:
                done, _ = await asyncio.wait(
                    tasks, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    task.result()  # Raises the first error.
            except openai.APIError as e:  # Any other SDK error.
                raise RuntimeError(
                    f"A chat completions request failed "
                    f"({self.describe_error(e)}); the answers received "
                    f"so far are in '{self.cache.path}'") from None
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    def delay(self, attempt: int, wait: Optional[float] = None) -> float:
        r"""Seconds to wait before retry :obj:`attempt` (1-based): the
        server's :obj:`wait` (capped), else exponential backoff."""
        if wait is not None:
            return min(wait, self.max_retry_after)
        base = min(self.backoff * 2**(attempt - 1), self.max_backoff)
        return base * (1 + 0.25 * random.random())

    async def _ask(self, client: Any, system: str, prompt: str,
                   key: Key) -> bool:
        # The client's own POST with a plain JSON body and answer: the SDK's
        # typed-params transform and response models (a few ms a request,
        # the client's main cost at hundreds of requests per second) are
        # skipped; HTTP errors are raised by the SDK as before.
        import openai
        error, attempt = '', 0
        for attempt in range(1, self.max_retries + 2):
            wait = None
            try:
                raw = await client.post(
                    '/chat/completions', cast_to=bytes,
                    body=dict(self.request_body(system, prompt),
                              **(self.extra_body or {})))
                resp = _completion(raw)
            except openai.APIStatusError as e:
                error = self.describe_error(e)
                if e.status_code in FATAL_STATUS:
                    raise RuntimeError(f"The server refused the chat "
                                       f"completions request ({error}); "
                                       f"check the model, base URL and API "
                                       f"key") from None
                if e.status_code == 400 and self.json_mode:
                    log.warning("The server rejected a request; retrying "
                                "without 'response_format' (JSON mode)")
                    self.json_mode = False
                elif (e.status_code < 500
                      and e.status_code not in RETRY_STATUS):
                    break
                wait = retry_after(e.response.headers)
            except openai.APIConnectionError as e:  # Includes timeouts.
                error = self.describe_error(e)
            except ProfileParseError as e:  # Not a chat completion.
                error = f'Unparseable answer: {e}'
            else:
                usage = resp.get('usage')
                self.usage.add(usage)
                try:
                    summary, reasoning = parse_profile(resp['content'])
                except ProfileParseError as e:
                    error = f'Unparseable answer: {e}'
                else:
                    self.cache.add(key, status='ok', summarization=summary,
                                   reasoning=reasoning,
                                   model=resp.get('model'), usage=usage,
                                   attempts=attempt)
                    return True
            if attempt <= self.max_retries:
                await asyncio.sleep(self.delay(attempt, wait))
        self.cache.add(key, status='failed', error=self.redact(error),
                       attempts=attempt)
        return False

    def dry_run(self, data: HeteroData) -> Dict[str, Any]:
        r"""Counts the prompts of this shard still to ask and estimates
        their tokens and cost, without any request (streaming, as
        :meth:`profile`). User prompts use the cached item profiles, else a
        placeholder of the item word limit (200 words)."""
        report: Dict[str, Any] = {}
        item_profiles = self.item_profiles(data, ' '.join(['word'] * 200))
        total_in = total_out = 0
        for node_type in (ITEM, USER):
            system = load_system_prompt(self.domain, node_type)
            prompt = self.prompt_of(data, node_type, item_profiles)
            nodes = self.nodes(data[node_type].num_nodes)
            to_ask = tokens_in = 0
            for i in nodes:
                text = prompt(i)
                if self.cache.get(ProfileCache.key(node_type, i, prompt_hash(
                        self.model, system, text))) is None:
                    to_ask += 1
                    tokens_in += (estimate_tokens(system) +
                                  estimate_tokens(text) + 8)
            tokens_out = to_ask * self.est_completion_tokens
            total_in, total_out = total_in + tokens_in, total_out + tokens_out
            report[node_type] = dict(prompts=len(nodes), to_ask=to_ask,
                                     prompt_tokens=tokens_in,
                                     completion_tokens=tokens_out)
        report['cost_usd'] = estimate_cost(total_in, total_out, self.model,
                                           self.price_per_1m)
        report['batch_cost_usd'] = estimate_cost(total_in, total_out,
                                                 self.model, self.price_per_1m,
                                                 batch=True)
        if self.shard is not None:
            report['shard'] = list(self.shard)
        log.info(f"Dry run ('{self.model}'): {report}")
        return report

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(domain='{self.domain}', "
                f"model='{self.model}', mode='{self.mode}')")


def _completion(raw: bytes) -> Dict[str, Any]:
    r"""The :obj:`content`, :obj:`usage` and :obj:`model` of a chat
    completions response body (raises :class:`ProfileParseError` when it is
    not one)."""
    try:
        body = json.loads(raw)
        message = (body.get('choices') or [{}])[0].get('message') or {}
        usage = body.get('usage')
        return dict(content=message.get('content'), model=body.get('model'),
                    usage=usage if isinstance(usage, dict) else None)
    except (ValueError, AttributeError, TypeError, IndexError) as e:
        raise ProfileParseError(f'not a chat completion ({e})') from None


class _CachedProfiles(Sequence):
    r"""The cached profiles of one node type as a read-only sequence (one
    indexed cache lookup per access)."""
    def __init__(self, profiler: OpenAIProfiler, data: HeteroData,
                 node_type: NodeType, default: str) -> None:
        self.profiler, self.node_type, self.default = profiler, node_type, \
            default
        self.num = data[node_type].num_nodes
        self.system = load_system_prompt(profiler.domain, node_type)
        self.prompt = profiler.prompt_of(data, node_type)

    def __len__(self) -> int:
        return self.num

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.num))]
        if not -self.num <= i < self.num:
            raise IndexError(f'node {i} of {self.num}')
        i %= self.num
        key = ProfileCache.key(self.node_type, i, prompt_hash(
            self.profiler.model, self.system, self.prompt(i)))
        rec = self.profiler.cache.get(key)
        return rec['summarization'] if rec else self.default
