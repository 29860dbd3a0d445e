r"""Semantic representations (RLMRec paper Sec. 3.3, Eq. 15): text
encoders, their on-disk cache, and transforms attaching :obj:`sem_emb` to a
graph."""
from rlmrec_pyg.semantic.attach import AttachSemantic, MemoryMappedSemantic
from rlmrec_pyg.semantic.cache import CachedEncoder
from rlmrec_pyg.semantic.encoder import HashTextEncoder, TextEncoder
from rlmrec_pyg.semantic.official import OfficialSemantic
from rlmrec_pyg.semantic.openai_embedding import OpenAIEmbeddingEncoder
from rlmrec_pyg.semantic.sentence_transformer import \
    SentenceTransformerEncoder
from rlmrec_pyg.semantic.store import VectorStore

__all__ = [
    'TextEncoder', 'HashTextEncoder', 'SentenceTransformerEncoder',
    'OpenAIEmbeddingEncoder', 'CachedEncoder', 'AttachSemantic',
    'OfficialSemantic', 'VectorStore', 'MemoryMappedSemantic'
]
