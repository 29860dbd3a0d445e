r"""Tolerant parsing of an LLM's profile answer: the JSON object
``{"summarization": ..., "reasoning": ...}`` of RLMRec's prompts (paper
Appendix A.2), also when it is wrapped in code fences or surrounded by
prose."""
import json
import re
from typing import Any, Dict, Optional, Tuple

_FENCE = re.compile(r'```(?:json|JSON)?\s*(.*?)```', re.DOTALL)


class ProfileParseError(ValueError):
    r"""Raised when an answer holds no JSON object with a string
    :obj:`summarization`."""


def _objects(text: str) -> Any:
    decoder = json.JSONDecoder()
    for start in (m.start() for m in re.finditer(r'\{', text)):
        try:
            obj, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            yield obj


def parse_profile(content: Optional[str]) -> Tuple[str, str]:
    r"""Returns :obj:`(summarization, reasoning)` from an LLM answer.

    Code fences are stripped, and the first JSON object with a string
    :obj:`"summarization"` is taken, wherever it starts (leading or trailing
    prose is ignored). A missing :obj:`"reasoning"` becomes :obj:`""`.

    Raises:
        ProfileParseError: If the answer is empty or holds no such object.
    """
    if content is None or not content.strip():
        raise ProfileParseError('The answer is empty')
    candidates = [m.group(1) for m in _FENCE.finditer(content)] + [content]
    for text in candidates:
        for obj in _objects(text):
            summary = _field(obj, 'summarization')
            if summary is not None:
                return summary, _field(obj, 'reasoning') or ''
    raise ProfileParseError(f"No JSON object with a 'summarization' string "
                            f"in the answer (starts with {content[:80]!r})")


def _field(obj: Dict[str, Any], key: str) -> Optional[str]:
    value = obj.get(key)
    if isinstance(value, (list, dict)):
        value = json.dumps(value, ensure_ascii=False)
    return None if value is None else str(value)
