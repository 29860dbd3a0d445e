r"""The RLMRec dataset recipe: raw dumps (Amazon Reviews, Yelp, Steam, CSV,
Parquet) read in a streaming pass, filtered, sampled, k-cored and split as
in the paper."""
from rlmrec_pyg.data.recipe.core import (Built, Recipe, apply_recipe,
                                         split_until_trained)
from rlmrec_pyg.data.recipe.sources import SOURCES, Source, resolve_source

__all__ = ['Recipe', 'Built', 'apply_recipe', 'split_until_trained',
           'Source', 'SOURCES', 'resolve_source']
