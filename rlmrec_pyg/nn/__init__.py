r"""Backbones, ID embeddings, alignment wrappers and losses."""
from rlmrec_pyg.nn.functional import bpr_loss, info_nce, l2_reg
from rlmrec_pyg.nn.alignment import (ContrastiveAlignment,
                                     MaskedGenerativeAlignment)

__all__ = ['bpr_loss', 'info_nce', 'l2_reg']
__all__ += ['ContrastiveAlignment', 'MaskedGenerativeAlignment']
