r"""User and item profiles (RLMRec paper Sec. 3.2, Eq. 13-14): prompt
builders, the offline profiler (default) and the OpenAI-compatible LLM
profiler with its answer cache and Batch API mode."""
from rlmrec_pyg.profiles.cache import ProfileCache, prompt_hash
from rlmrec_pyg.profiles.llm import OpenAIProfiler
from rlmrec_pyg.profiles.offline import OfflineProfiler
from rlmrec_pyg.profiles.parsing import ProfileParseError, parse_profile
from rlmrec_pyg.profiles.profiler import Profiler
from rlmrec_pyg.profiles.prompt import (DOMAINS, attach_reviews,
                                        build_item_prompts,
                                        build_user_prompts,
                                        load_system_prompt)
from rlmrec_pyg.profiles.usage import Usage, estimate_cost

__all__ = [
    'Profiler', 'OfflineProfiler', 'OpenAIProfiler', 'ProfileCache',
    'prompt_hash', 'parse_profile', 'ProfileParseError', 'DOMAINS',
    'attach_reviews', 'build_item_prompts', 'build_user_prompts',
    'load_system_prompt', 'Usage', 'estimate_cost'
]
