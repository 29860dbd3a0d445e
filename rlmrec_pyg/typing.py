r"""The names every part of :mod:`rlmrec_pyg` agrees on.

One graph representation serves every dataset (see :mod:`rlmrec_pyg.data`):

* node types :obj:`USER` and :obj:`ITEM`;
* training interactions as :obj:`data[EDGE].edge_index` (``[2, E]``, row 0
  user ids, row 1 item ids) and its flip :obj:`data[REV_EDGE].edge_index`:
  exactly what message passing sees (``data.edge_index_dict``);
* held-out interactions beside them on the same edge store:
  :obj:`VAL_INDEX` and :obj:`TEST_INDEX` (never used for message passing);
* optional per-node fields: :obj:`SEM_EMB` (semantic vectors, never in
  ``x``), :obj:`PROFILE` and :obj:`REASONING` (lists of strings) and the
  raw text fields listed in :obj:`TEXT_FIELDS`.
"""
from typing import Dict

from torch import Tensor
from torch_geometric.typing import Adj, EdgeType, NodeType, OptTensor

USER: NodeType = 'user'
ITEM: NodeType = 'item'
EDGE: EdgeType = ('user', 'to', 'item')
REV_EDGE: EdgeType = ('item', 'rev_to', 'user')

#: Attribute of ``data[EDGE]`` holding validation interactions ``[2, E_val]``.
VAL_INDEX = 'val_edge_index'
#: Attribute of ``data[EDGE]`` holding test interactions ``[2, E_test]``.
TEST_INDEX = 'test_edge_index'
#: Optional interaction timestamps (seconds), aligned with each split.
TIME, VAL_TIME, TEST_TIME = 'time', 'val_time', 'test_time'

#: Node attribute: semantic (text) vectors ``[num_nodes, sem_channels]``.
SEM_EMB = 'sem_emb'
#: Node attribute: the profile text (the LLM's ``summarization``).
PROFILE = 'profile'
#: Node attribute: the LLM's ``reasoning`` beside the profile.
REASONING = 'reasoning'
#: Node attribute: the original (raw) ids, as strings.
RAW_ID = 'raw_id'
#: Optional raw text fields a dataset may carry per node (lists with one
#: entry per node; ``reviews`` and ``tags`` are lists of lists of strings
#: built from *training* interactions only).
TEXT_FIELDS = ('title', 'description', 'genres', 'year', 'tags', 'reviews')

TensorDict = Dict[NodeType, Tensor]

__all__ = [
    'USER', 'ITEM', 'EDGE', 'REV_EDGE', 'VAL_INDEX', 'TEST_INDEX', 'TIME',
    'VAL_TIME', 'TEST_TIME', 'SEM_EMB', 'PROFILE', 'REASONING', 'RAW_ID',
    'TEXT_FIELDS', 'TensorDict', 'Adj', 'EdgeType', 'NodeType', 'OptTensor'
]
