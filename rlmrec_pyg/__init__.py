r"""RLMRec ("Representation Learning with Large Language Models for
Recommendation", Ren et al., WWW'24) as a PyTorch Geometric extension.

The pipeline, in order: :mod:`rlmrec_pyg.data` (bipartite
:class:`~torch_geometric.data.HeteroData`) -> :mod:`rlmrec_pyg.profiles`
(LLM or offline profiles) -> :mod:`rlmrec_pyg.semantic` (text encoders,
``sem_emb``) -> :mod:`rlmrec_pyg.nn` (backbones and alignment wrappers) ->
:mod:`rlmrec_pyg.train` (training loop and all-rank evaluation).
"""
__version__ = '0.1.0'

__all__ = ['__version__']
