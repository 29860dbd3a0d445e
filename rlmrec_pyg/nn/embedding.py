r"""Learnable ID embeddings per node type (the official ego tables;
docs/parity.md#xavier-initialisation), kept outside the encoder."""
from typing import Dict, Mapping

import torch
from torch import Tensor
from torch.nn import Parameter, ParameterDict
from torch_geometric.typing import NodeType


class NodeEmbedding(torch.nn.Module):
    r"""One learnable embedding table per node type, returned as the
    :obj:`x_dict` an encoder consumes (as the ID embeddings of PyG's
    :obj:`examples/hetero/bipartite_sage.py`):

    .. math::
        \mathbf{E}^{(0)}_t \in \mathbb{R}^{n_t \times d}, \qquad
        \mathbf{E}^{(0)}_t \sim \mathcal{U}\left(-\sqrt{6 / (n_t + d)},
        \sqrt{6 / (n_t + d)}\right)

    Every table is Xavier-uniform over its own :math:`n_t \times d` matrix,
    as the official code initialises :obj:`user_embeds` and
    :obj:`item_embeds` (*e.g.*, bound :math:`\approx 0.0233` for
    :math:`11000 \times 32`).

    .. code-block:: python

        embedding = NodeEmbedding({'user': 11000, 'item': 9332}, 32)
        z_dict = encoder(embedding(), data.edge_index_dict)

    Args:
        num_nodes_dict (Dict[str, int]): Number of nodes per node type.
        embedding_dim (int): Size :math:`d` of every embedding.
    """
    def __init__(self, num_nodes_dict: Mapping[NodeType, int],
                 embedding_dim: int) -> None:
        super().__init__()
        name = self.__class__.__name__
        if not isinstance(num_nodes_dict, Mapping) or not num_nodes_dict:
            raise TypeError(f"'num_nodes_dict' must be a non-empty mapping "
                            f"from node type to size in '{name}' (got "
                            f"{num_nodes_dict!r})")
        for node_type, num in num_nodes_dict.items():
            if isinstance(num, bool) or not isinstance(num, int) or num <= 0:
                raise ValueError(f"Expected a positive number of nodes for "
                                 f"node type '{node_type}' in '{name}' (got "
                                 f"{num!r})")
        if isinstance(embedding_dim, bool) or not isinstance(
                embedding_dim, int) or embedding_dim <= 0:
            raise ValueError(f"'embedding_dim' must be a positive integer in "
                             f"'{name}' (got {embedding_dim!r})")
        self.num_nodes_dict = dict(num_nodes_dict)
        self.embedding_dim = embedding_dim
        self.weight_dict = ParameterDict({
            node_type: Parameter(torch.empty(num, embedding_dim))
            for node_type, num in self.num_nodes_dict.items()
        })
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets every table (Xavier-uniform per table)."""
        for weight in self.weight_dict.values():
            torch.nn.init.xavier_uniform_(weight)

    def forward(self) -> Dict[NodeType, Tensor]:
        r"""Returns :obj:`x_dict`: the full table of every node type."""
        return {nt: w for nt, w in self.weight_dict.items()}

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.num_nodes_dict}, '
                f'embedding_dim={self.embedding_dim})')
