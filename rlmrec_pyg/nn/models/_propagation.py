r"""Shared input handling of the linear graph backbones (stack, validate,
propagate, split)."""
from typing import Dict, List, Optional

import torch
from torch import Tensor
from torch_geometric.typing import EdgeType

from rlmrec_pyg.nn.conv import BipartiteConv
from rlmrec_pyg.nn.conv.bipartite_adjacency import BACKENDS
from rlmrec_pyg.typing import EDGE, ITEM, USER, NodeType


def check_args(embedding_dim: int, num_layers: int, backend: Optional[str],
               name: str) -> str:
    r"""Checks the shared constructor arguments and returns the backend
    (:obj:`None` means the fused CSR path)."""
    if embedding_dim <= 0:
        raise ValueError(f"'embedding_dim' must be positive in '{name}' "
                         f"(got {embedding_dim})")
    if num_layers < 0:
        raise ValueError(f"'num_layers' must be non-negative in '{name}' "
                         f"(got {num_layers})")
    if backend is None:
        return 'csr'
    if backend not in BACKENDS:
        raise ValueError(f"Unknown 'backend' '{backend}' in '{name}' (choose "
                         f"from {list(BACKENDS)})")
    return backend


def propagate_layers(conv: BipartiteConv, x_dict: Dict[NodeType, Tensor],
                     edge_index_dict: Dict[EdgeType, Tensor],
                     num_layers: int, backend: str, edge_drop_rate: float,
                     name: str) -> List[Tensor]:
    r"""Returns :math:`[\mathbf{E}^{(0)}, \dots, \mathbf{E}^{(L)}]` over the
    stacked :obj:`[users; items]` rows, with edge dropout (one mask shared
    by all layers) when :obj:`edge_drop_rate > 0`."""
    for node_type in (USER, ITEM):
        if node_type not in x_dict:
            raise ValueError(f"'x_dict' lacks node type '{node_type}' in "
                             f"'{name}' (got {sorted(x_dict)})")
    if EDGE not in edge_index_dict:
        raise ValueError(f"'edge_index_dict' lacks edge type {EDGE} in "
                         f"'{name}' (got {sorted(edge_index_dict)})")
    x_user, x_item = x_dict[USER], x_dict[ITEM]
    adj = conv.adjacency(edge_index_dict[EDGE], x_user.size(0),
                         x_item.size(0))
    weight = adj.edge_dropout(edge_drop_rate) if edge_drop_rate > 0 else None
    kwargs = adj.to_adj(backend, weight)
    xs = [torch.cat([x_user, x_item], dim=0)]
    for _ in range(num_layers):
        xs.append(conv(xs[-1], **kwargs))
    return xs


def split(out: Tensor, num_users: int) -> Dict[NodeType, Tensor]:
    r"""Splits stacked rows back into :obj:`{'user': ..., 'item': ...}`."""
    # One `split` (its backward is one `cat`) instead of two slices (each
    # backward a full-size zero tensor).
    user, item = out.split([num_users, out.size(0) - num_users])
    return {USER: user, ITEM: item}
