r"""The text-encoder protocol behind RLMRec's semantic representations
:math:`\mathbf{s} = \mathcal{T}(\text{profile})` (`"Representation Learning
with Large Language Models for Recommendation"
<https://arxiv.org/abs/2310.15950>`_, Sec. 3.3, Eq. 15)."""
import hashlib
import re
from typing import List, Protocol, Sequence, runtime_checkable

import torch
from torch import Tensor


@runtime_checkable
class TextEncoder(Protocol):
    r"""Anything with a :obj:`name` (which identifies the vectors it makes,
    used as cache key) and :meth:`encode`, mapping :obj:`N` strings to a
    float tensor :obj:`[N, dim]`."""
    name: str

    def encode(self, texts: Sequence[str]) -> Tensor:
        r"""Encodes :obj:`texts` into a float tensor
        :obj:`[len(texts), dim]`."""
        ...


def check_texts(texts: Sequence[str], owner: str) -> List[str]:
    r"""Returns :obj:`texts` as a list, raising a :class:`TypeError` naming
    :obj:`owner` if it is not a sequence of strings."""
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise TypeError(f"'texts' must be a list of strings in '{owner}' "
                        f"(got {type(texts).__name__})")
    return list(texts)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


class HashTextEncoder:
    r"""A deterministic, offline text encoder for tests: each lower-cased
    word is hashed to a bucket and a sign (feature hashing), and the bag of
    words is L2-normalised, so texts sharing words get similar vectors.

    Args:
        dim (int, optional): Output width. (default: :obj:`16`)
        seed (int, optional): Seed of the hashing. (default: :obj:`0`)
    """
    def __init__(self, dim: int = 16, seed: int = 0) -> None:
        if dim < 1:
            raise ValueError(f"'dim' must be positive in "
                             f"'{self.__class__.__name__}' (got {dim})")
        self.dim, self.seed = dim, seed
        self.name = f'hash-{dim}-{seed}'
        self.num_calls = 0

    def encode(self, texts: Sequence[str]) -> Tensor:
        r"""Hashes the words of each text into :obj:`dim` signed buckets."""
        texts = check_texts(texts, self.__class__.__name__)
        self.num_calls += 1
        out = torch.zeros(len(texts), self.dim)
        for row, text in enumerate(texts):
            for word in re.findall(r'\w+', text.lower()) or ['']:
                h = int(text_hash(f'{self.seed}:{word}')[:15], 16)
                out[row, h % self.dim] += 1.0 if (h >> 40) & 1 else -1.0
        return torch.nn.functional.normalize(out, dim=-1)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.dim})'
