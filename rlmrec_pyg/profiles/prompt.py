r"""Prompt builders for item and user profiling (RLMRec, Eq. 13 and 14 of
`"Representation Learning with Large Language Models for Recommendation"
<https://arxiv.org/abs/2310.15950>`_, Appendix A.2;
docs/parity.md#prompt-sampling)."""
import json
import random
from dataclasses import dataclass
from importlib import resources
from typing import (Any, Callable, Dict, Iterable, Iterator, List, Optional,
                    Sequence, Tuple)

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from rlmrec_pyg.typing import EDGE, ITEM, USER, NodeType


@dataclass(frozen=True)
class Domain:
    r"""What the prompts of one domain look like.

    Args:
        name (str): Domain name; the system prompts are
            :obj:`prompts/<name>_{item,user}.txt`.
        item_fields (Tuple[str, ...]): Item fields in ``BASIC INFORMATION``.
        item_feedback (bool): Whether item prompts carry ``USER FEEDBACK``
            (sampled reviews and tags). Eq. 13: not when the items have an
            original description (Amazon books).
        user_header (str): Header of the user's item list.
    """
    name: str
    item_fields: Tuple[str, ...]
    item_feedback: bool
    user_header: str


DOMAINS: Dict[str, Domain] = {
    'book': Domain('book', ('title', 'description'), False,
                   'PURCHASED ITEMS'),
    'business': Domain('business', ('title', 'city', 'categories'), True,
                       'PURCHASED BUSINESSES'),
    'game': Domain('game', ('title', 'publisher', 'genres', 'tags'), True,
                   'PLAYED GAMES'),
    'movie': Domain('movie', ('title', 'year', 'genres'), True,
                    'WATCHED MOVIES'),
}
#: Dataset names mapped to the domain of their prompts.
DATASET_DOMAINS = {
    'amazon': 'book',
    'yelp': 'business',
    'steam': 'game',
    'movielens': 'movie'
}
#: Fields holding per-node lists of free text written by users (reviews,
#: tags), built from training interactions only.
FEEDBACK_FIELDS = ('reviews', 'tags')


def resolve_domain(domain: str) -> Domain:
    r"""Returns the :class:`Domain` named :obj:`domain` (a domain or a
    dataset name such as :obj:`'amazon'`)."""
    name = DATASET_DOMAINS.get(domain, domain)
    if name not in DOMAINS:
        raise ValueError(f"Unknown domain '{domain}' (choose from "
                         f"{sorted(DOMAINS) + sorted(DATASET_DOMAINS)})")
    return DOMAINS[name]


def load_system_prompt(domain: str, node_type: NodeType) -> str:
    r"""Returns the system prompt shipped as package data for
    :obj:`domain` and :obj:`node_type` (:obj:`'user'` or :obj:`'item'`)."""
    if node_type not in (USER, ITEM):
        raise ValueError(f"'node_type' must be '{USER}' or '{ITEM}' "
                         f"(got '{node_type}')")
    name = f'{resolve_domain(domain).name}_{node_type}.txt'
    return (resources.files('rlmrec_pyg.profiles') / 'prompts' /
            name).read_text(encoding='utf-8')


def node_field(data: HeteroData, node_type: NodeType,
               field: str) -> Optional[List[Any]]:
    r"""Returns :obj:`data[node_type][field]` as a per-node list, or
    :obj:`None` if the field is missing."""
    store = data[node_type]
    if field not in store:
        return None
    value = store[field]
    if isinstance(value, Tensor):
        value = value.tolist()
    if not isinstance(value, (list, tuple)) \
            or len(value) != store.num_nodes:
        raise ValueError(f"Expected '{field}' of node type '{node_type}' to "
                         f"be a list with {store.num_nodes} entries (got "
                         f"{type(value).__name__})")
    return list(value)


def render(value: Any) -> str:
    r"""Renders one field value for a prompt: lists are joined with commas
    and missing values (:obj:`None`, empty, NaN) become :obj:`"None"`."""
    if isinstance(value, (list, tuple)):
        value = ', '.join(dict.fromkeys(render(v) for v in value
                                        if render(v) != 'None'))
    if value is None or value != value or str(value).strip() == '':
        return 'None'
    return str(value)


def truncate_words(text: str, max_words: Optional[int]) -> str:
    r"""Keeps the first :obj:`max_words` space-separated words of
    :obj:`text` (the official example prompts cut reviews to 200 words:
    docs/parity.md#prompt-sampling)."""
    if max_words is None:
        return text
    return ' '.join(text.split(' ')[:max_words])


def node_rng(seed: int, node_type: NodeType, node_id: int,
             salt: str = '') -> random.Random:
    r"""A generator seeded per node, so that a node's sampled reviews and
    items (and hence its prompt and cache key) never depend on the order
    or the subset of nodes processed."""
    return random.Random(f'{seed}:{node_type}:{node_id}:{salt}')


def sample(values: Sequence[Any], k: Optional[int],
           rng: random.Random) -> List[Any]:
    r"""Returns :obj:`k` values drawn uniformly without replacement, in
    their original order (all of them if there are at most :obj:`k`)."""
    if k is None or len(values) <= k:
        return list(values)
    return [values[i] for i in sorted(rng.sample(range(len(values)), k))]


def feedback_of(data: HeteroData, node_type: NodeType, num: Optional[int],
                max_words: Optional[int],
                seed: int) -> Callable[[int], List[str]]:
    r"""A function of a node id returning up to :obj:`num` texts sampled
    from the node's :obj:`reviews` and :obj:`tags`, each truncated to
    :obj:`max_words` words (node by node, so that no list for every node
    is built)."""
    fields = [v for v in (node_field(data, node_type, f)
                          for f in FEEDBACK_FIELDS) if v is not None]

    def of(i: int) -> List[str]:
        pool: List[str] = []
        for values in fields:
            texts = values[i]
            if isinstance(texts, str):
                texts = [texts]
            pool += [str(t) for t in texts or [] if render(t) != 'None']
        return [
            truncate_words(t, max_words)
            for t in sample(pool, num, node_rng(seed, node_type, i,
                                                'reviews'))
        ]

    return of


def feedback(data: HeteroData, node_type: NodeType, num: Optional[int],
             max_words: Optional[int], seed: int) -> List[List[str]]:
    r"""Per node, up to :obj:`num` texts sampled from its :obj:`reviews`
    and :obj:`tags`, each truncated to :obj:`max_words` words."""
    of = feedback_of(data, node_type, num, max_words, seed)
    return [of(i) for i in range(data[node_type].num_nodes)]


def attach_reviews(data: HeteroData, index: Tensor, texts: Sequence[str],
                   key: str = 'reviews') -> HeteroData:
    r"""Groups per-interaction texts (e.g. reviews) into the per-node lists
    :obj:`data['user'][key]` and :obj:`data['item'][key]`, keeping **only**
    the interactions that are training interactions
    (:obj:`data['user', 'to', 'item'].edge_index`); texts of validation or
    test interactions are dropped, so they never reach a prompt.

    Args:
        data (HeteroData): The graph.
        index (torch.Tensor): Interactions :obj:`[2, N]` (user, item) of any
            split.
        texts (List[str]): One text per column of :obj:`index`.
        key (str, optional): Attribute name. (default: :obj:`'reviews'`)
    """
    if index.dim() != 2 or index.size(0) != 2 or index.size(1) != len(texts):
        raise ValueError(f"Expected 'index' of shape [2, {len(texts)}] (one "
                         f"column per text, got {list(index.size())})")
    num_items = data[ITEM].num_nodes
    train = set((data[EDGE].edge_index[0] * num_items +
                 data[EDGE].edge_index[1]).tolist())
    users: List[List[str]] = [[] for _ in range(data[USER].num_nodes)]
    items: List[List[str]] = [[] for _ in range(num_items)]
    for (u, i), text in zip(index.t().tolist(), texts):
        if u * num_items + i in train:
            users[u].append(text)
            items[i].append(text)
    data[USER][key], data[ITEM][key] = users, items
    return data


def train_items(data: HeteroData) -> List[List[int]]:
    r"""The training items of every user, from
    :obj:`data['user', 'to', 'item'].edge_index` only (never the
    validation or test interactions)."""
    of = train_items_of(data)
    return [of(u) for u in range(data[USER].num_nodes)]


def train_items_of(data: HeteroData) -> Callable[[int], List[int]]:
    r"""A function of a user id returning the user's training items in the
    order of :obj:`data['user', 'to', 'item'].edge_index` (from a
    compressed index of the edges: no list for every user)."""
    user, item = data[EDGE].edge_index
    order = torch.sort(user, stable=True).indices
    item = item[order]
    rowptr = torch.zeros(data[USER].num_nodes + 1, dtype=torch.long)
    rowptr[1:] = torch.bincount(user, minlength=data[USER].num_nodes).cumsum(0)

    def of(u: int) -> List[int]:
        return item[rowptr[u]:rowptr[u + 1]].tolist()

    return of


def _json_lines(rows: Sequence[Any]) -> str:
    if not rows:
        return '[]'
    body = '\n'.join(json.dumps(r, ensure_ascii=False) for r in rows)
    return f'[\n{body}\n]'


def build_item_prompts(data: HeteroData, domain: str,
                       num_reviews: Optional[int] = 6,
                       max_words: Optional[int] = 200,
                       seed: int = 0) -> List[str]:
    r"""Returns one item prompt per item (Eq. 13): the basic information
    fields of the domain and, for domains with feedback, up to
    :obj:`num_reviews` of the item's reviews/tags (training interactions
    only, as the dataset provides them), each cut to :obj:`max_words`.

    Args:
        data (HeteroData): The graph; item text fields are optional.
        domain (str): Domain or dataset name (see :data:`DOMAINS`).
        num_reviews (int, optional): Reviews sampled per item.
            (default: :obj:`6`)
        max_words (int, optional): Words kept per review.
            (default: :obj:`200`)
        seed (int, optional): Seed of the per-node sampling.
            (default: :obj:`0`)
    """
    return list(iter_item_prompts(data, domain, num_reviews, max_words,
                                  seed))


def iter_item_prompts(data: HeteroData, domain: str,
                      num_reviews: Optional[int] = 6,
                      max_words: Optional[int] = 200, seed: int = 0,
                      nodes: Optional[Iterable[int]] = None
                      ) -> Iterator[str]:
    r"""Yields the prompts of :func:`build_item_prompts` one at a time, of
    the items :obj:`nodes` (:obj:`None`: all, in order)."""
    prompt = item_prompt_of(data, domain, num_reviews, max_words, seed)
    for i in range(data[ITEM].num_nodes) if nodes is None else nodes:
        yield prompt(i)


def item_prompt_of(data: HeteroData, domain: str,
                   num_reviews: Optional[int] = 6,
                   max_words: Optional[int] = 200,
                   seed: int = 0) -> Callable[[int], str]:
    r"""A function of an item id returning its prompt (as
    :func:`build_item_prompts`)."""
    dom = resolve_domain(domain)
    fields = {f: node_field(data, ITEM, f) for f in dom.item_fields}
    texts = (feedback_of(data, ITEM, num_reviews, max_words, seed)
             if dom.item_feedback else None)

    def prompt(i: int) -> str:
        info = {
            f: render(None if v is None else v[i])
            for f, v in fields.items()
        }
        out = 'BASIC INFORMATION: \n' + json.dumps(info, ensure_ascii=False)
        if texts is not None:
            out += '\nUSER FEEDBACK: \n' + _json_lines(texts(i))
        return out

    return prompt


def build_user_prompts(data: HeteroData, domain: str,
                       item_profiles: Sequence[str],
                       num_items: Optional[int] = 6,
                       num_reviews: Optional[int] = 6,
                       max_words: Optional[int] = 200,
                       seed: int = 0) -> List[str]:
    r"""Returns one user prompt per user (Eq. 14): up to :obj:`num_items`
    of the user's **training** items, each with its title and its profile
    (what types of users would like it), then up to :obj:`num_reviews` of
    the user's own reviews/tags cut to :obj:`max_words` words.

    Reviews are per-node lists, so the user's feedback is listed beside the
    items rather than paired with them.

    Args:
        data (HeteroData): The graph.
        domain (str): Domain or dataset name (see :data:`DOMAINS`).
        item_profiles (List[str]): The profile of every item.
        num_items (int, optional): Items sampled per user.
            (default: :obj:`6`)
        num_reviews (int, optional): Own reviews sampled per user.
            (default: :obj:`6`)
        max_words (int, optional): Words kept per review.
            (default: :obj:`200`)
        seed (int, optional): Seed of the per-node sampling.
            (default: :obj:`0`)
    """
    return list(iter_user_prompts(data, domain, item_profiles, num_items,
                                  num_reviews, max_words, seed))


def iter_user_prompts(data: HeteroData, domain: str,
                      item_profiles: Sequence[str],
                      num_items: Optional[int] = 6,
                      num_reviews: Optional[int] = 6,
                      max_words: Optional[int] = 200, seed: int = 0,
                      nodes: Optional[Iterable[int]] = None
                      ) -> Iterator[str]:
    r"""Yields the prompts of :func:`build_user_prompts` one at a time, of
    the users :obj:`nodes` (:obj:`None`: all, in order);
    :obj:`item_profiles` may be any sequence (*e.g.*, one reading a
    cache), indexed only at the sampled items."""
    prompt = user_prompt_of(data, domain, item_profiles, num_items,
                            num_reviews, max_words, seed)
    for u in range(data[USER].num_nodes) if nodes is None else nodes:
        yield prompt(u)


def user_prompt_of(data: HeteroData, domain: str,
                   item_profiles: Sequence[str],
                   num_items: Optional[int] = 6,
                   num_reviews: Optional[int] = 6,
                   max_words: Optional[int] = 200,
                   seed: int = 0) -> Callable[[int], str]:
    r"""A function of a user id returning its prompt (as
    :func:`build_user_prompts`)."""
    dom = resolve_domain(domain)
    if len(item_profiles) != data[ITEM].num_nodes:
        raise ValueError(f"Expected one item profile per item "
                         f"({data[ITEM].num_nodes}, got "
                         f"{len(item_profiles)})")
    titles = node_field(data, ITEM, 'title')
    texts = feedback_of(data, USER, num_reviews, max_words, seed)
    items_of = train_items_of(data)

    def prompt(u: int) -> str:
        rows = [{
            'title': render(None if titles is None else titles[i]),
            'description': render(item_profiles[i]),
        } for i in sample(items_of(u), num_items, node_rng(seed, USER, u))]
        return (f'{dom.user_header}: \n{_json_lines(rows)}'
                f'\nUSER FEEDBACK: \n{_json_lines(texts(u))}')

    return prompt
