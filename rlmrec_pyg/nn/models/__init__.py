r"""Graph backbones: :obj:`forward(x_dict, edge_index_dict) -> z_dict`."""
from rlmrec_pyg.nn.models.gccf import GCCF
from rlmrec_pyg.nn.models.lightgcn import LightGCN
from rlmrec_pyg.nn.models.sgl import SGL
from rlmrec_pyg.nn.models.simgcl import SimGCL
from rlmrec_pyg.nn.models.dccf import DCCF
from rlmrec_pyg.nn.models.autocf import AutoCF
from rlmrec_pyg.nn.models.hetero import to_hetero_encoder

__all__ = ['LightGCN', 'GCCF']
__all__ += ['SGL', 'SimGCL', 'DCCF', 'AutoCF', 'to_hetero_encoder']
