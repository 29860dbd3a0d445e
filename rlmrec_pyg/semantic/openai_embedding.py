r"""OpenAI (and compatible) embedding models as text encoders; the paper
embeds profiles with :obj:`text-embedding-ada-002` (`"Representation
Learning with Large Language Models for Recommendation"
<https://arxiv.org/abs/2310.15950>`_, Sec. 4.1.4)."""
import os
from typing import (Any, Dict, Iterator, List, Optional, Sequence,
                    Tuple)

import torch
from torch import Tensor
from tqdm import tqdm

from rlmrec_pyg.profiles.usage import estimate_tokens
from rlmrec_pyg.secrets import ENV_KEY, describe_api_error
from rlmrec_pyg.semantic.encoder import check_texts

#: The embeddings endpoint's limits: inputs per request and tokens summed
#: over a request's inputs; requests are cut at 80 % of the latter, as
#: tokens are estimated (four characters each), not counted.
MAX_INPUTS, MAX_REQUEST_TOKENS = 2048, 300_000
TOKEN_BUDGET = int(0.8 * MAX_REQUEST_TOKENS)


class OpenAIEmbeddingEncoder:
    r"""Encodes texts with an OpenAI-compatible ``/embeddings`` endpoint,
    :obj:`batch_size` texts per request (fewer when their estimated tokens
    would pass 80 % of the endpoint's 300,000 a request), with the SDK's
    retries (429 with ``Retry-After``, 5xx, timeouts). The key comes from
    :obj:`api_key` or ``OPENAI_API_KEY`` and is never shown in
    :meth:`__repr__` or errors: a failed request raises one
    :class:`RuntimeError` with the server's message redacted.

    Args:
        model (str, optional): Embedding model.
            (default: :obj:`'text-embedding-ada-002'`, as in the paper)
        dimensions (int, optional): Output width for models that support
            it (:obj:`text-embedding-3-*`). (default: :obj:`None`)
        base_url (str, optional): Server URL. (default: :obj:`None`)
        api_key (str, optional): API key. (default: :obj:`None`)
        batch_size (int, optional): Texts per request, at most the
            endpoint's 2048. (default: :obj:`256`)
        max_retries (int, optional): SDK retries. (default: :obj:`5`)
        timeout (float, optional): Seconds per request. (default: :obj:`60`)
    """
    def __init__(self, model: str = 'text-embedding-ada-002',
                 dimensions: Optional[int] = None,
                 base_url: Optional[str] = None,
                 api_key: Optional[str] = None, batch_size: int = 256,
                 max_retries: int = 5, timeout: float = 60.0) -> None:
        if dimensions is not None and 'ada-002' in model:
            raise ValueError(f"'dimensions' is not supported by '{model}' "
                             f"in '{self.__class__.__name__}' (got "
                             f"{dimensions}); use text-embedding-3-*")
        if dimensions is not None and dimensions < 1:
            raise ValueError(f"'dimensions' must be positive in "
                             f"'{self.__class__.__name__}' (got "
                             f"{dimensions})")
        if isinstance(batch_size, bool) or not isinstance(
                batch_size, int) or not 1 <= batch_size <= MAX_INPUTS:
            raise ValueError(f"'batch_size' must be an integer from 1 to "
                             f"{MAX_INPUTS} (the endpoint's limit) in "
                             f"'{self.__class__.__name__}' (got "
                             f"{batch_size!r})")
        self.model, self.dimensions = model, dimensions
        self.base_url, self._api_key = base_url, api_key
        self.batch_size, self.max_retries = batch_size, max_retries
        self.timeout = timeout
        self.name = f'openai-{model}' + (f'-{dimensions}'
                                         if dimensions else '')
        # Paid vectors: a CachedEncoder saves every request's vectors as
        # soon as they arrive.
        self.save_every = batch_size
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from openai import OpenAI
            key = self._api_key or os.environ.get('OPENAI_API_KEY')
            if key is None and self.base_url is not None:
                key = 'EMPTY'
            self._client = OpenAI(api_key=key, base_url=self.base_url,
                                  max_retries=self.max_retries,
                                  timeout=self.timeout)
        return self._client

    def encode(self, texts: Sequence[str]) -> Tensor:
        r"""Embeds :obj:`texts` in batches through the embeddings endpoint."""
        texts = check_texts(texts, self.__class__.__name__)
        extra = {} if self.dimensions is None else dict(
            dimensions=self.dimensions)
        rows = []
        for start, end in tqdm(list(self.batches(texts)),
                               desc=f'{self.model} batches', disable=None):
            # The API rejects empty strings.
            batch = [t or 'None' for t in texts[start:end]]
            resp = self._create(batch, start, len(texts), extra)
            data = sorted(resp.data, key=lambda d: d.index)
            rows += [torch.tensor(d.embedding) for d in data]
        if not rows:
            return torch.empty(0, self.dimensions or 0)
        return torch.stack(rows).float()

    def batches(self, texts: Sequence[str]) -> Iterator[Tuple[int, int]]:
        r"""Yields :obj:`(start, end)` of each request: at most
        :obj:`batch_size` texts and 240,000 estimated tokens (80 % of the
        endpoint's 300,000)."""
        start, tokens = 0, 0
        for i, text in enumerate(texts):
            cost = estimate_tokens(text or 'None')
            if i > start and (i - start == self.batch_size
                              or tokens + cost > TOKEN_BUDGET):
                yield start, i
                start, tokens = i, 0
            tokens += cost
        if start < len(texts):
            yield start, len(texts)

    def _create(self, batch: List[str], start: int, total: int,
                extra: Dict[str, Any]) -> Any:
        # One request; an SDK error (which may echo the key) becomes one
        # redacted sentence, without the original in its traceback.
        import openai
        try:
            return self.client.embeddings.create(model=self.model,
                                                 input=batch, **extra)
        except openai.OpenAIError as e:
            error = describe_api_error(e, [self._api_key])
        raise RuntimeError(
            f"The embeddings request for texts {start}-"
            f"{start + len(batch) - 1} of {total} to '{self.model}' failed "
            f"({error}); check the model, base URL and API key "
            f"({ENV_KEY})") from None

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}('{self.model}')"
