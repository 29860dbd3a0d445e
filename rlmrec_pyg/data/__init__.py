r"""Datasets as bipartite :class:`~torch_geometric.data.HeteroData`.

Every dataset of :mod:`rlmrec_pyg` is one graph in one representation
(the names live in :mod:`rlmrec_pyg.typing`):

* node types ``'user'`` and ``'item'`` with ``num_nodes``;
* ``data['user', 'to', 'item'].edge_index``: the **training** interactions
  ``[2, E]`` (row 0 user ids, row 1 item ids), plus the reverse edge type
  ``('item', 'rev_to', 'user')``: the only edges message passing sees
  (``data.edge_index_dict``);
* ``data['user', 'to', 'item'].val_edge_index`` and ``.test_edge_index``:
  held-out interactions, disjoint from training and from each other;
* optional ``time`` / ``val_time`` / ``test_time`` timestamps per split;
* optional per-node fields: ``sem_emb`` (semantic vectors, never ``x``),
  ``profile`` and ``reasoning`` (LLM profiles), ``raw_id`` (original ids) and
  raw text such as ``title``, ``description``, ``genres``, ``year``, ``tags``
  and ``reviews`` (per-user or per-item text built from **training**
  interactions only).
"""
from rlmrec_pyg.data.csv import InteractionCSV
from rlmrec_pyg.data.graph import build_rec_data, validate_rec_data
from rlmrec_pyg.data.interactions import interactions_to_data
from rlmrec_pyg.data.movielens import MovieLensText
from rlmrec_pyg.data.raw_reviews import RawReviews, build_from_raw
from rlmrec_pyg.data.rlmrec import RLMRecDataset
from rlmrec_pyg.data.sampling import BPRSampler, bpr_sample
from rlmrec_pyg.data.transforms import (AddNoiseInteractions,
                                        ShuffleSemantic, TimeWindow)
from rlmrec_pyg.data.unpickle import UnsafePickleError, safe_load

__all__ = [
    'build_rec_data',
    'validate_rec_data',
    'interactions_to_data',
    'RLMRecDataset',
    'MovieLensText',
    'InteractionCSV',
    'RawReviews',
    'build_from_raw',
    'AddNoiseInteractions',
    'ShuffleSemantic',
    'TimeWindow',
    'BPRSampler',
    'bpr_sample',
    'safe_load',
    'UnsafePickleError',
]
