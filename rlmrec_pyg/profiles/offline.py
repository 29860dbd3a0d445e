r"""Deterministic profiles without an LLM, in the shape of RLMRec's
profiles (`"Representation Learning with Large Language Models for
Recommendation" <https://arxiv.org/abs/2310.15950>`_, Sec. 3.2)."""
from collections import Counter
from typing import List, Optional

from torch_geometric.data import HeteroData

from rlmrec_pyg.profiles.profiler import Profiler, Profiles
from rlmrec_pyg.profiles.prompt import (FEEDBACK_FIELDS, feedback,
                                        node_field, node_rng, render,
                                        resolve_domain, sample, train_items,
                                        truncate_words)
from rlmrec_pyg.typing import ITEM, USER

#: Item fields whose values describe a taste (counted over a user's items).
ATTRIBUTE_FIELDS = ('genres', 'categories', 'tags', 'publisher', 'city')


def _values(value: object) -> List[str]:
    if isinstance(value, (list, tuple)):
        return [v for x in value for v in _values(x)]
    text = render(value)
    if text == 'None':
        return []
    return [v.strip() for v in text.replace('|', ',').split(',')
            if v.strip()]


class OfflineProfiler(Profiler):
    r"""Profiles composed from the available text, with no LLM and no key:
    the default profiler, so that every later stage runs offline.

    An item's profile states its title, its attributes (the domain's fields
    such as genres, year or description) and a sample of its reviews/tags;
    a user's profile names a sample of their **training** items, the
    attributes most frequent among all their training items, the first
    sentence of some of those items' profiles, and a sample of their own
    reviews/tags. Profiles are capped at 200 (items) and 100 (users) words,
    the limits of the LLM prompts; the reasoning says what was used.

    .. code-block:: python

        data = OfflineProfiler(domain='movie')(data)
        data['user'].profile[0]

    Args:
        domain (str, optional): Domain or dataset name.
            (default: :obj:`'movie'`)
        **kwargs (optional): :obj:`num_reviews`, :obj:`num_items`,
            :obj:`max_words`, :obj:`seed` of :class:`Profiler`.
    """
    def __init__(self, domain: str = 'movie',
                 **kwargs: Optional[int]) -> None:
        super().__init__(domain, **kwargs)  # type: ignore[arg-type]

    def profile_items(self, data: HeteroData) -> Profiles:
        dom = resolve_domain(self.domain)
        noun = dom.name
        fields = [
            f for f in dict.fromkeys(dom.item_fields + ATTRIBUTE_FIELDS +
                                     ('year', 'description'))
            if f not in FEEDBACK_FIELDS  # Listed among the reviews.
        ]
        values = {f: node_field(data, ITEM, f) for f in fields}
        texts = feedback(data, ITEM, self.num_reviews, 30, self.seed)
        profiles, reasons = [], []
        for i in range(data[ITEM].num_nodes):
            val = {f: render(v[i]) for f, v in values.items() if v}
            val = {f: v for f, v in val.items() if v != 'None'}
            title = val.pop('title', f'{noun.capitalize()} {i}')
            desc = val.pop('description', None)
            parts = [f'{title} is a {noun}']
            parts += [f'{f}: {v}' for f, v in val.items()]
            if desc:
                parts.append(desc.rstrip('.'))
            if texts[i]:
                parts.append('Users say: ' + '; '.join(texts[i]))
            profiles.append(truncate_words('. '.join(parts) + '.', 200))
            used = ['title'] + list(val) + (['description'] if desc else [])
            reasons.append(f'Composed offline from {", ".join(used)} and '
                           f'{len(texts[i])} reviews/tags.')
        return profiles, reasons

    def profile_users(self, data: HeteroData,
                      item_profiles: List[str]) -> Profiles:
        noun = resolve_domain(self.domain).name
        titles = node_field(data, ITEM, 'title')
        attrs = [node_field(data, ITEM, f) for f in ATTRIBUTE_FIELDS]
        texts = feedback(data, USER, self.num_reviews, 30, self.seed)
        profiles, reasons = [], []
        for u, items in enumerate(train_items(data)):
            counts: Counter = Counter()
            for values in attrs:
                for i in items if values else []:
                    counts.update(dict.fromkeys(_values(values[i]), 1))
            picked = sample(items, self.num_items,
                            node_rng(self.seed, USER, u))
            names = [
                render(titles[i]) if titles else f'{noun} {i}'
                for i in picked
            ]
            parts = [f'This user enjoys {noun}s such as ' + ', '.join(names)]
            if counts:
                top = [v for v, _ in counts.most_common(5)]
                parts.append('Favourite themes: ' + ', '.join(top))
            if texts[u]:
                parts.append('They wrote: ' + '; '.join(texts[u]))
            parts += [truncate_words(item_profiles[i], 25) for i in picked[:3]]
            text = '. '.join(p.rstrip('.') for p in parts) + '.'
            profiles.append(truncate_words(text, 100))
            reasons.append(f'Composed offline from {len(items)} training '
                           f'items and {len(texts[u])} own reviews/tags.')
        return profiles, reasons
