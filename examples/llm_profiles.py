r"""User and item profiles for RLMRec (`"Representation Learning with Large
Language Models for Recommendation" <https://arxiv.org/abs/2310.15950>`_,
Sec. 3.2): first offline (no LLM, no key), then the same through any
OpenAI-compatible chat server, then their semantic vectors.

Answers are cached in ``--cache_dir`` as they arrive: a killed run started
again asks only for what is missing. ``--dry_run`` prints the prompt count,
token and cost estimate and asks nothing.

.. code-block:: bash

    # OpenAI (the key is read from the environment, never logged):
    export OPENAI_API_KEY=sk-...
    python examples/llm_profiles.py --model gpt-4o-mini --dry_run
    python examples/llm_profiles.py --model gpt-4o-mini
    python examples/llm_profiles.py --model gpt-4o-mini --mode batch  # -50%

    # vLLM (any chat model it serves):
    vllm serve Qwen/Qwen2.5-7B-Instruct --port 8000
    python examples/llm_profiles.py --base_url http://localhost:8000/v1 \
        --model Qwen/Qwen2.5-7B-Instruct

    # Ollama:
    ollama pull llama3.1:8b  # then `ollama serve` if it is not running
    python examples/llm_profiles.py --base_url http://localhost:11434/v1 \
        --model llama3.1:8b

    # No server at hand: the fake server of the tests (from a checkout):
    python examples/llm_profiles.py --fake_server

``RLMREC_EXAMPLE_ENCODER=hash`` replaces all-MiniLM-L6-v2 by a fast offline
stand-in (CI).
"""
import argparse
import contextlib
import os
import os.path as osp
import sys

from rlmrec_pyg.data import MovieLensText
from rlmrec_pyg.profiles import OfflineProfiler, OpenAIProfiler
from rlmrec_pyg.semantic import (AttachSemantic, HashTextEncoder,
                                 SentenceTransformerEncoder)

env = os.environ.get
parser = argparse.ArgumentParser()
parser.add_argument('--root', default=env('RLMREC_EXAMPLE_ROOT') or osp.join(
    osp.dirname(osp.realpath(__file__)), '..', 'data'))
parser.add_argument('--model', default='gpt-4o-mini')
parser.add_argument('--base_url', default=None, help='default: OpenAI')
parser.add_argument('--mode', choices=['async', 'batch'], default='async')
parser.add_argument('--max_concurrency', type=int, default=8)
parser.add_argument('--cache_dir', default=None,
                    help='default: <root>/profiles/<model>')
parser.add_argument('--dry_run', action='store_true')
parser.add_argument('--fake_server', action='store_true',
                    help="answer with the tests' fake OpenAI server")
parser.add_argument('--encoder', choices=['minilm', 'hash'],
                    default=env('RLMREC_EXAMPLE_ENCODER', 'minilm'))
args = parser.parse_args()

data = MovieLensText(osp.join(args.root, 'MovieLens'))[0]

# 1. Offline profiles, composed from titles, genres and training-only tags:
offline = OfflineProfiler(domain='movie')(data.clone())
print(f"Offline item 0: {offline['item'].profile[0]}")
print(f"Offline user 0: {offline['user'].profile[0]}\n")

# 2. LLM profiles with RLMRec's prompts: items first, then every user from
#    the profiles of their training items (Eq. 13-14).
server = contextlib.nullcontext()
if args.fake_server:  # tests/fake_openai_server.py of a source checkout
    sys.path.insert(0, osp.join(osp.dirname(osp.realpath(__file__)), '..',
                                'tests'))
    from fake_openai_server import FakeOpenAIServer
    server = FakeOpenAIServer()
with server:
    base_url = server.url if args.fake_server else args.base_url
    profiler = OpenAIProfiler(
        domain='movie', model=args.model, base_url=base_url, mode=args.mode,
        max_concurrency=args.max_concurrency,
        cache_dir=args.cache_dir or osp.join(args.root, 'profiles',
                                             args.model.replace('/', '_')))
    est = profiler.dry_run(data)  # no request is sent
    cost, batch_cost = (('unknown' if c is None else f'${c:.2f}')
                        for c in (est['cost_usd'], est['batch_cost_usd']))
    print(f"To ask: {est['item']['to_ask']} items and "
          f"{est['user']['to_ask']} users, about "
          f"{est['item']['prompt_tokens'] + est['user']['prompt_tokens']} "
          f"prompt tokens, estimated cost {cost} ({batch_cost} in batch)")
    if args.dry_run:
        sys.exit(0)
    data = profiler(data)
print(f"\nLLM item 0: {data['item'].profile[0]}")
print(f"LLM user 0: {data['user'].profile[0]}")
print(f"Reasoning:  {data['user'].reasoning[0]}")
print(f'Usage: {profiler.usage}\n')

# 3. Semantic vectors of the LLM profiles, as RLMRec aligns with them:
encoder = (SentenceTransformerEncoder() if args.encoder == 'minilm' else
           HashTextEncoder(dim=384))
data = AttachSemantic(encoder, cache_dir=osp.join(args.root,
                                                  'embeddings'))(data)
print(f"sem_emb: user {list(data['user'].sem_emb.size())}, "
      f"item {list(data['item'].sem_emb.size())}")
