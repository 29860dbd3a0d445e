r"""The profiling paradigm of RLMRec (`"Representation Learning with Large
Language Models for Recommendation" <https://arxiv.org/abs/2310.15950>`_,
Sec. 3.2, Eq. 13-14): items first, then users from their training items'
profiles and their own reviews."""
from abc import abstractmethod
from typing import List, Optional, Tuple

from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform

from rlmrec_pyg.profiles.prompt import resolve_domain
from rlmrec_pyg.typing import ITEM, PROFILE, REASONING, USER

Profiles = Tuple[List[str], List[str]]


class Profiler(BaseTransform):
    r"""Base class of the profilers: a transform that sets
    :obj:`data['item'].profile` / :obj:`.reasoning` and then
    :obj:`data['user'].profile` / :obj:`.reasoning` (lists of strings, one
    per node; the profile is the LLM's ``summarization``).

    Subclasses implement :meth:`profile_items` and :meth:`profile_users`.

    Args:
        domain (str, optional): Domain or dataset name of the prompts
            (:obj:`'book'`, :obj:`'business'`, :obj:`'game'`,
            :obj:`'movie'`, or :obj:`'amazon'`, :obj:`'yelp'`,
            :obj:`'steam'`, :obj:`'movielens'`). (default: :obj:`'movie'`)
        num_reviews (int, optional): Reviews/tags sampled per node
            (docs/parity.md#prompt-sampling). (default: :obj:`6`)
        num_items (int, optional): Training items sampled per user.
            (default: :obj:`6`)
        max_words (int, optional): Words kept per review.
            (default: :obj:`200`)
        seed (int, optional): Seed of the per-node sampling.
            (default: :obj:`0`)
    """
    def __init__(self, domain: str = 'movie', num_reviews: Optional[int] = 6,
                 num_items: Optional[int] = 6,
                 max_words: Optional[int] = 200, seed: int = 0) -> None:
        for name, value in (('num_reviews', num_reviews),
                            ('num_items', num_items), ('max_words',
                                                       max_words)):
            if value is not None and (not isinstance(value, int)
                                      or value < 1):
                raise ValueError(f"'{name}' must be a positive integer or "
                                 f"None in '{self.__class__.__name__}' "
                                 f"(got {value!r})")
        self.domain = resolve_domain(domain).name
        self.num_reviews = num_reviews
        self.num_items = num_items
        self.max_words = max_words
        self.seed = seed

    @abstractmethod
    def profile_items(self, data: HeteroData) -> Profiles:
        r"""Returns the :obj:`(profiles, reasonings)` of all items."""

    @abstractmethod
    def profile_users(self, data: HeteroData,
                      item_profiles: List[str]) -> Profiles:
        r"""Returns the :obj:`(profiles, reasonings)` of all users."""

    def forward(self, data: HeteroData) -> HeteroData:
        r"""Writes the item, then the user profiles and reasonings into
        :obj:`data` (in place) and returns it."""
        item_profiles, item_reasoning = self.profile_items(data)
        data[ITEM][PROFILE] = item_profiles
        data[ITEM][REASONING] = item_reasoning
        user_profiles, user_reasoning = self.profile_users(
            data, item_profiles)
        data[USER][PROFILE] = user_profiles
        data[USER][REASONING] = user_reasoning
        return data

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(domain='{self.domain}')"
