r"""What to do with a trained model: top-:math:`k` recommendation (exact, or
through PyG's MIPS k-NN indexes) and its embeddings as files."""
from rlmrec_pyg.recommend.export import save_embeddings
from rlmrec_pyg.recommend.topk import TopKRecommender, default_approx_params

__all__ = ['TopKRecommender', 'default_approx_params', 'save_embeddings']
