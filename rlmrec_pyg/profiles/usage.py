r"""Token usage and cost estimates for the LLM profilers (:func:`redact`
lives in :mod:`rlmrec_pyg.secrets` and is re-exported here)."""
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

from rlmrec_pyg.secrets import redact

#: USD per million (prompt, completion) tokens, list prices; the Batch API
#: costs half. Pass :obj:`price_per_1m` for other models or servers.
PRICES_PER_1M: Dict[str, Tuple[float, float]] = {
    'gpt-3.5-turbo': (0.5, 1.5),
    'gpt-4o-mini': (0.15, 0.6),
    'gpt-4o': (2.5, 10.0),
    'gpt-4.1-mini': (0.4, 1.6),
    'gpt-4.1-nano': (0.1, 0.4),
}


def estimate_tokens(text: str) -> int:
    r"""A tokenizer-free estimate of the tokens of :obj:`text` (about four
    characters per token for English)."""
    return (len(text) + 3) // 4


@dataclass
class Usage:
    r"""Counts of the requests and tokens paid for."""
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, usage: Any) -> None:
        r"""Adds an OpenAI :obj:`usage` object or dict (or :obj:`None`)."""
        self.requests += 1
        if usage is None:
            return
        get = usage.get if isinstance(usage, dict) else (
            lambda k: getattr(usage, k, None))
        self.prompt_tokens += int(get('prompt_tokens') or 0)
        self.completion_tokens += int(get('completion_tokens') or 0)

    def cost(self, model: str,
             price_per_1m: Optional[Sequence[float]] = None,
             batch: bool = False) -> Optional[float]:
        r"""The estimated cost in USD, :obj:`None` for an unknown price."""
        return estimate_cost(self.prompt_tokens, self.completion_tokens,
                             model, price_per_1m, batch)

    def to_dict(self) -> Dict[str, int]:
        r"""Returns the request and token counts as a dictionary."""
        return asdict(self)


def estimate_cost(prompt_tokens: int, completion_tokens: int, model: str,
                  price_per_1m: Optional[Sequence[float]] = None,
                  batch: bool = False) -> Optional[float]:
    r"""USD for the given tokens at :obj:`price_per_1m` (default: the list
    price of :obj:`model`, if known); the Batch API halves it."""
    price = price_per_1m or PRICES_PER_1M.get(model)
    if price is None:
        return None
    cost = (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6
    return cost / 2 if batch else cost


__all__ = ['PRICES_PER_1M', 'Usage', 'estimate_cost', 'estimate_tokens',
           'redact']
