r"""LLM profiling through any OpenAI-compatible server (RLMRec,
`"Representation Learning with Large Language Models for Recommendation"
<https://arxiv.org/abs/2310.15950>`_, Sec. 3.2, Eq. 13-14)."""
import asyncio
import logging
import os
import os.path as osp
import random
from typing import Any, Dict, List, Optional, Sequence

from torch_geometric.data import HeteroData
from tqdm import tqdm

from rlmrec_pyg.profiles.batch import run_batch
from rlmrec_pyg.profiles.cache import Key, ProfileCache, prompt_hash
from rlmrec_pyg.profiles.parsing import ProfileParseError, parse_profile
from rlmrec_pyg.profiles.profiler import Profiler, Profiles
from rlmrec_pyg.profiles.prompt import (
    build_item_prompts,
    build_user_prompts,
    load_system_prompt,
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

    Every answer is appended to a JSONL :class:`ProfileCache` in
    :obj:`cache_dir` as soon as it arrives, keyed by node type, node id and
    the hash of (model, system prompt, prompt); a run killed at any moment
    and started again asks only for what is missing. Requests run
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
        price_per_1m (List[float], optional): USD per million prompt and
            completion tokens for the cost estimate (default: list price).
        est_completion_tokens (int, optional): Completion tokens per answer
            assumed by :meth:`dry_run`. (default: :obj:`250`)
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
                 price_per_1m: Optional[Sequence[float]] = None,
                 est_completion_tokens: int = 250, **kwargs: Any) -> None:
        super().__init__(domain, **kwargs)
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
        self.price_per_1m = price_per_1m
        self.est_completion_tokens = est_completion_tokens
        self.usage = Usage()
        self._cache: Optional[ProfileCache] = None

    @property
    def cache(self) -> ProfileCache:
        if self._cache is None:
            self._cache = ProfileCache(osp.join(self.cache_dir,
                                                'profiles.jsonl'))
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

    def prompts(self, data: HeteroData, node_type: NodeType,
                item_profiles: Optional[List[str]] = None) -> List[str]:
        r"""Returns the user prompt of every node of :obj:`node_type`."""
        if node_type == ITEM:
            return build_item_prompts(data, self.domain, self.num_reviews,
                                      self.max_words, self.seed)
        assert item_profiles is not None
        return build_user_prompts(data, self.domain, item_profiles,
                                  self.num_items, self.num_reviews,
                                  self.max_words, self.seed)

    def keys(self, node_type: NodeType, system: str,
             prompts: Sequence[str]) -> List[Key]:
        r"""Returns the cache key of every prompt (node id and prompt hash)."""
        return [
            ProfileCache.key(node_type, i, prompt_hash(self.model, system, p))
            for i, p in enumerate(prompts)
        ]

    def profile_items(self, data: HeteroData) -> Profiles:
        return self._profile(ITEM, self.prompts(data, ITEM))

    def profile_users(self, data: HeteroData,
                      item_profiles: List[str]) -> Profiles:
        return self._profile(USER, self.prompts(data, USER, item_profiles))

    def _profile(self, node_type: NodeType, prompts: List[str]) -> Profiles:
        with self.cache.locked():
            return self._profile_locked(node_type, prompts)

    def _profile_locked(self, node_type: NodeType,
                        prompts: List[str]) -> Profiles:
        system = load_system_prompt(self.domain, node_type)
        keys = self.keys(node_type, system, prompts)
        todo = [i for i, key in enumerate(keys) if not self.cache.get(key)]
        log.info(f"{node_type}: {len(prompts)} prompts, "
                 f"{len(prompts) - len(todo)} cached, {len(todo)} to ask "
                 f"'{self.model}' ({self.mode})")
        before = Usage(**self.usage.to_dict())
        if todo and self.mode == 'batch':
            run_batch(self, node_type, system, prompts, keys, todo)
        elif todo:
            run_sync(self._ask_all(node_type, system, prompts, keys, todo))
        spent = Usage(*(a - b for a, b in zip(self.usage.to_dict().values(),
                                              before.to_dict().values())))
        cost = spent.cost(self.model, self.price_per_1m,
                          batch=self.mode == 'batch')
        log.info(f"{node_type}: {spent.requests} requests, "
                 f"{spent.prompt_tokens} prompt + {spent.completion_tokens} "
                 f"completion tokens, estimated cost "
                 f"{'unknown' if cost is None else f'${cost:.4f}'}")
        records = [self.cache.get(key) for key in keys]
        missing = sum(rec is None for rec in records)
        if missing:
            log.warning(f"{missing} {node_type} profiles failed (recorded in "
                        f"'{self.cache.path}'); they get the profile 'None' "
                        f"and are asked again by the next run")
        return ([rec['summarization'] if rec else 'None' for rec in records],
                [rec['reasoning'] if rec else '' for rec in records])

    async def _ask_all(self, node_type: NodeType, system: str,
                       prompts: List[str], keys: List[Key],
                       todo: List[int]) -> None:
        import openai
        from openai import AsyncOpenAI
        sem = asyncio.Semaphore(self.max_concurrency)
        with tqdm(total=len(todo), desc=f'LLM {node_type} profiles',
                  disable=None) as bar:
            async with AsyncOpenAI(**self.client_kwargs()) as client:

                async def one(i: int) -> None:
                    async with sem:
                        await self._ask(client, system, prompts[i], keys[i])
                    bar.update(1)

                try:
                    await asyncio.gather(*(one(i) for i in todo))
                except openai.APIError as e:  # Any other SDK error.
                    raise RuntimeError(
                        f"A chat completions request failed "
                        f"({self.describe_error(e)}); the answers received "
                        f"so far are in '{self.cache.path}'") from None

    def delay(self, attempt: int, wait: Optional[float] = None) -> float:
        r"""Seconds to wait before retry :obj:`attempt` (1-based): the
        server's :obj:`wait` (capped), else exponential backoff."""
        if wait is not None:
            return min(wait, self.max_retry_after)
        base = min(self.backoff * 2**(attempt - 1), self.max_backoff)
        return base * (1 + 0.25 * random.random())

    async def _ask(self, client: Any, system: str, prompt: str,
                   key: Key) -> None:
        import openai
        error, attempt = '', 0
        for attempt in range(1, self.max_retries + 2):
            wait = None
            try:
                resp = await client.chat.completions.create(
                    **self.request_body(system, prompt),
                    extra_body=self.extra_body)
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
            else:
                self.usage.add(resp.usage)
                content = resp.choices[0].message.content \
                    if resp.choices else None
                try:
                    summary, reasoning = parse_profile(content)
                except ProfileParseError as e:
                    error = f'Unparseable answer: {e}'
                else:
                    usage = resp.usage.model_dump() if resp.usage else None
                    self.cache.add(key, status='ok', summarization=summary,
                                   reasoning=reasoning, model=resp.model,
                                   usage=usage, attempts=attempt)
                    return
            if attempt <= self.max_retries:
                await asyncio.sleep(self.delay(attempt, wait))
        self.cache.add(key, status='failed', error=self.redact(error),
                       attempts=attempt)

    def dry_run(self, data: HeteroData) -> Dict[str, Any]:
        r"""Counts the prompts still to ask and estimates their tokens and
        cost, without any request. User prompts use the cached item
        profiles, else a placeholder of the item word limit (200 words)."""
        report: Dict[str, Any] = {}
        item_prompts = self.prompts(data, ITEM)
        item_keys = self.keys(ITEM, load_system_prompt(self.domain, ITEM),
                              item_prompts)
        item_profiles = [(self.cache.get(k) or {}).get(
            'summarization', ' '.join(['word'] * 200)) for k in item_keys]
        total_in = total_out = 0
        for node_type in (ITEM, USER):
            system = load_system_prompt(self.domain, node_type)
            prompts = (item_prompts if node_type == ITEM else self.prompts(
                data, USER, item_profiles))
            keys = self.keys(node_type, system, prompts)
            todo = [p for p, k in zip(prompts, keys) if not self.cache.get(k)]
            tokens_in = sum(estimate_tokens(system) + estimate_tokens(p) + 8
                            for p in todo)
            tokens_out = len(todo) * self.est_completion_tokens
            total_in, total_out = total_in + tokens_in, total_out + tokens_out
            report[node_type] = dict(prompts=len(prompts), to_ask=len(todo),
                                     prompt_tokens=tokens_in,
                                     completion_tokens=tokens_out)
        report['cost_usd'] = estimate_cost(total_in, total_out, self.model,
                                           self.price_per_1m)
        report['batch_cost_usd'] = estimate_cost(total_in, total_out,
                                                 self.model, self.price_per_1m,
                                                 batch=True)
        log.info(f"Dry run ('{self.model}'): {report}")
        return report

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(domain='{self.domain}', "
                f"model='{self.model}', mode='{self.mode}')")
