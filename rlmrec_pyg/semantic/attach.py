r"""Attaching semantic representations :math:`\mathbf{s}_u, \mathbf{s}_v`
(`"Representation Learning with Large Language Models for Recommendation"
<https://arxiv.org/abs/2310.15950>`_, Eq. 15) to a graph as
:obj:`data['user'].sem_emb` and :obj:`data['item'].sem_emb`."""
import logging
import os.path as osp
import time
from typing import Optional, Sequence

from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform

from rlmrec_pyg.data.graph import check_finite_rows
from rlmrec_pyg.semantic.cache import CachedEncoder
from rlmrec_pyg.semantic.encoder import TextEncoder
from rlmrec_pyg.semantic.store import VectorStore
from rlmrec_pyg.typing import (ITEM, PROFILE, REASONING, SEM_EMB, USER,
                               NodeType)

log = logging.getLogger(__name__)


class AttachSemantic(BaseTransform):
    r"""Encodes every node's profile with a :class:`TextEncoder` and stores
    the vectors as :obj:`data[node_type].sem_emb`, in the spirit of PyG's
    :class:`~torch_geometric.datasets.MovieLens` (:obj:`model_name`).

    As in the official code, only the profile (the LLM's
    ``summarization``) is embedded by default; with
    :obj:`include_reasoning=True` the reasoning is appended to it. If the
    graph has no profiles yet, :obj:`profiler` makes them first.

    .. code-block:: python

        from rlmrec_pyg.profiles import OfflineProfiler
        from rlmrec_pyg.semantic import (AttachSemantic,
                                         SentenceTransformerEncoder)

        transform = AttachSemantic(SentenceTransformerEncoder(),
                                   profiler=OfflineProfiler('movie'),
                                   cache_dir='cache/embeddings')
        data = transform(data)
        data['user'].sem_emb  # [num_users, 384]

    Args:
        encoder (TextEncoder): The text encoder.
        include_reasoning (bool, optional): Embed profile and reasoning.
            (default: :obj:`False`)
        cache_dir (str, optional): Vector cache folder (see
            :class:`CachedEncoder`); :obj:`None` for none.
            (default: :obj:`None`)
        profiler (BaseTransform, optional): Makes the profiles when they are
            missing. (default: :obj:`None`)
        node_types (List[str], optional): Node types to encode.
            (default: :obj:`['user', 'item']`)
        store_dir (str, optional): Write the vectors of each node type into
            a half-precision :class:`VectorStore` :obj:`<store_dir>/<node
            type>` (chunk by chunk, resumable) and attach them
            memory-mapped, for catalogues whose vectors should not sit in
            memory; :obj:`None` keeps float32 tensors. (default:
            :obj:`None`)
        chunk_size (int, optional): Texts encoded and stored at a time with
            :obj:`store_dir`. (default: :obj:`4096`)
    """
    def __init__(self, encoder: TextEncoder, include_reasoning: bool = False,
                 cache_dir: Optional[str] = None,
                 profiler: Optional[BaseTransform] = None,
                 node_types: Sequence[NodeType] = (USER, ITEM),
                 store_dir: Optional[str] = None,
                 chunk_size: int = 4096) -> None:
        if not isinstance(encoder, TextEncoder):
            raise TypeError(f"'encoder' must have a 'name' and an 'encode' "
                            f"method in '{self.__class__.__name__}' (got "
                            f"{type(encoder).__name__})")
        self.encoder = encoder
        if cache_dir is not None:
            self.encoder = CachedEncoder(encoder, cache_dir)
        self.include_reasoning = include_reasoning
        self.profiler = profiler
        self.node_types = list(node_types)
        self.store_dir, self.chunk_size = store_dir, chunk_size

    def texts(self, data: HeteroData, node_type: NodeType) -> list:
        r"""The texts embedded for :obj:`node_type`."""
        profiles = list(data[node_type][PROFILE])
        if not self.include_reasoning:
            return profiles
        if REASONING not in data[node_type]:
            raise ValueError(f"'include_reasoning' needs 'reasoning' of node "
                             f"type '{node_type}' in "
                             f"'{self.__class__.__name__}'")
        return [
            f'{p}\n{r}' for p, r in zip(profiles, data[node_type][REASONING])
        ]

    def forward(self, data: HeteroData) -> HeteroData:
        r"""Returns :obj:`data` with :obj:`sem_emb` for every node type
        (a :class:`ValueError` names the node type and the first row if the
        encoder returns a NaN or an infinity)."""
        if any(PROFILE not in data[t] for t in self.node_types):
            if self.profiler is None:
                raise ValueError(f"Expected 'profile' on node types "
                                 f"{self.node_types} in "
                                 f"'{self.__class__.__name__}' (pass a "
                                 f"'profiler' to make them)")
            data = self.profiler(data)
        for node_type in self.node_types:
            texts = self.texts(data, node_type)
            if len(texts) != data[node_type].num_nodes:
                raise ValueError(f"Expected {data[node_type].num_nodes} "
                                 f"profiles of node type '{node_type}' "
                                 f"(got {len(texts)})")
            start = time.perf_counter()
            if self.store_dir is None:
                emb = self.encoder.encode(texts).float()
                check_finite_rows(emb, f"'sem_emb' of node type "
                                  f"'{node_type}' from '{self.encoder.name}'")
            else:  # Finite rows are checked chunk by chunk as written.
                emb = VectorStore(osp.join(self.store_dir, node_type)).write(
                    self.encoder, texts, chunk_size=self.chunk_size).tensor()
            data[node_type][SEM_EMB] = emb
            secs = time.perf_counter() - start
            log.info(f"{node_type}: {len(texts)} texts encoded with "
                     f"'{self.encoder.name}' in {secs:.1f}s "
                     f"({len(texts) / max(secs, 1e-9):.1f} texts/s)")
        return data

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.encoder.name!r}, '
                f'include_reasoning={self.include_reasoning})')


class MemoryMappedSemantic(BaseTransform):
    r"""Attaches the vectors of the stores :obj:`<path>/<node type>`
    (:class:`VectorStore`, written by :class:`AttachSemantic` with
    :obj:`store_dir` or by ``rlmrec-vectors``) as memory-mapped float16
    :obj:`sem_emb`: training gathers and converts only the rows of each
    step, so the catalogue's vectors stay on disk.

    Args:
        path (str): The folder holding one store per node type.
        node_types (List[str], optional): Node types to attach.
            (default: :obj:`['user', 'item']`)
    """
    def __init__(self, path: str,
                 node_types: Sequence[NodeType] = (USER, ITEM)) -> None:
        self.path = path
        self.node_types = list(node_types)

    def forward(self, data: HeteroData) -> HeteroData:
        r"""Returns :obj:`data` with memory-mapped :obj:`sem_emb` for every
        node type (a :class:`ValueError` when a store is missing,
        incomplete or of another size than the node type)."""
        for node_type in self.node_types:
            store = VectorStore(osp.join(self.path, node_type))
            if store.meta is None:
                raise ValueError(f"Expected a vector store for node type "
                                 f"'{node_type}' at '{store.path}' in "
                                 f"'{self.__class__.__name__}' (write it "
                                 f"with 'rlmrec-vectors semantic.store_dir="
                                 f"...')")
            num = data[node_type].num_nodes
            if store.num_rows != num:
                raise ValueError(f"The vector store '{store.path}' holds "
                                 f"{store.num_rows} rows, but node type "
                                 f"'{node_type}' has {num} nodes in "
                                 f"'{self.__class__.__name__}'")
            data[node_type][SEM_EMB] = store.tensor()
            log.info(f"{node_type}: memory-mapped {store}")
        return data

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.path!r})'
