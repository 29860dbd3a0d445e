r"""PyG's LightGCN propagation (:class:`torch_geometric.nn.conv.LGConv`, the
layers of :class:`torch_geometric.nn.models.LightGCN`) as a plain encoder
``(x_dict, edge_index_dict) -> z_dict``: the library's loop, split and
evaluator train it on BPR, with the library's ID embeddings as layer 0.
A helper of :mod:`benchmarks.bench_engine` and of the accuracy config
``experiment=pyg_lightgcn_base_amazon``; not a benchmark."""
from typing import Dict

import torch
from torch import Tensor
from torch_geometric.nn.conv import LGConv

from rlmrec_pyg.typing import EDGE, ITEM, USER


class PyGLightGCN(torch.nn.Module):
    r"""Runs :obj:`num_layers` :class:`~torch_geometric.nn.conv.LGConv` on
    the homogeneous (both-direction, items offset by the number of users)
    training graph and sums the layers (:obj:`alpha = 1` per layer in
    :meth:`torch_geometric.nn.models.LightGCN.get_embedding`, the layer
    sum RLMRec uses). As PyG's model it has no edge dropout and normalises
    the graph in every layer.

    Args:
        embedding_dim (int, optional): Width of the ID embeddings (checked).
            (default: :obj:`32`)
        num_layers (int, optional): Propagation layers. (default: :obj:`3`)
    """
    def __init__(self, embedding_dim: int = 32, num_layers: int = 3) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.convs = torch.nn.ModuleList(LGConv() for _ in range(num_layers))

    def forward(self, x_dict: Dict[str, Tensor],
                edge_index_dict: Dict) -> Dict[str, Tensor]:
        num_users = x_dict[USER].size(0)
        x = torch.cat([x_dict[USER], x_dict[ITEM]])
        if x.size(-1) != self.embedding_dim:
            raise ValueError(f"Expected ID embeddings of width "
                             f"{self.embedding_dim} in "
                             f"'{self.__class__.__name__}' (got "
                             f"{x.size(-1)})")
        user, item = edge_index_dict[EDGE]
        item = item + num_users
        edge_index = torch.stack(
            [torch.cat([user, item]),
             torch.cat([item, user])])
        out = x
        for conv in self.convs:
            x = conv(x, edge_index)
            out = out + x
        return {USER: out[:num_users], ITEM: out[num_users:]}
