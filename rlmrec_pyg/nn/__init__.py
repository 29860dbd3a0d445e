r"""Backbones, ID embeddings, alignment wrappers and losses."""
from rlmrec_pyg.nn.functional import (bpr_loss, info_nce, l2_reg,
                                      logsumexp_scores)
from rlmrec_pyg.nn.embedding import NodeEmbedding
from rlmrec_pyg.nn.objective import Objective, TrainBatch
from rlmrec_pyg.nn.recommender import Recommender
from rlmrec_pyg.nn.conv import BipartiteAdjacency, BipartiteConv
from rlmrec_pyg.nn.models import GCCF, LightGCN
from rlmrec_pyg.nn.models import SGL, SimGCL, DCCF, AutoCF
from rlmrec_pyg.nn.alignment import (ContrastiveAlignment,
                                     MaskedGenerativeAlignment)
from rlmrec_pyg.nn.kar import KAR, SemanticRanker

__all__ = ['bpr_loss', 'info_nce', 'l2_reg', 'logsumexp_scores']
__all__ += ['Objective', 'TrainBatch', 'Recommender']
__all__ += ['ContrastiveAlignment', 'MaskedGenerativeAlignment']
__all__ += ['KAR', 'SemanticRanker']
__all__ += ['NodeEmbedding', 'BipartiteAdjacency', 'BipartiteConv', 'LightGCN',
            'GCCF']
__all__ += ['SGL', 'SimGCL', 'DCCF', 'AutoCF']
