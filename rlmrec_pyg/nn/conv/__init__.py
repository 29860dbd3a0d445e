r"""Bipartite propagation layers and the normalised adjacency they use."""
from rlmrec_pyg.nn.conv.bipartite_adjacency import BipartiteAdjacency
from rlmrec_pyg.nn.conv.bipartite_conv import BipartiteConv

__all__ = ['BipartiteAdjacency', 'BipartiteConv']
