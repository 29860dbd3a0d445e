r"""Training triples for the BPR loss (official ``PairwiseTrnData``;
docs/parity.md#negative-sampling): one :math:`(u, i^+, i^-)` per training
interaction per epoch, the negative uniform over all items and never one of
the user's training positives."""
from typing import Optional, Tuple

import torch
from torch import Tensor


class BPRSampler:
    r"""Draws one :math:`(u, i^+, i^-)` triple per training interaction.

    Negatives are uniform over the :obj:`num_items` items, redrawn while they
    hit one of the user's training positives (vectorised rejection sampling:
    the same distribution as the official per-interaction loop; validation
    and test items *can* be drawn, as in the official code). The sorted
    interaction keys :math:`u \cdot I + i` are computed once, so one epoch
    costs a few vectorised passes.

    .. code-block:: python

        sampler = BPRSampler(data['user', 'to', 'item'].edge_index,
                             data['item'].num_nodes)
        user, pos, neg = sampler.sample(generator=torch.Generator())

    Args:
        edge_index (torch.Tensor): Training interactions :obj:`[2, E]`.
        num_items (int): Number of items.
        shuffle (bool, optional): Return the triples in a random order, as
            the official shuffled data loader. (default: :obj:`True`)
    """
    def __init__(self, edge_index: Tensor, num_items: int,
                 shuffle: bool = True) -> None:
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise ValueError(f"'edge_index' must have shape [2, E] in "
                             f"'{self.__class__.__name__}' (got "
                             f"{list(edge_index.size())})")
        if num_items <= 0:
            raise ValueError(f"'num_items' must be positive in "
                             f"'{self.__class__.__name__}' (got {num_items})")
        # Triples are drawn on the CPU: one seed, the same triples on every
        # device (the training loop moves each batch to the model).
        edge_index = edge_index.long().cpu()
        if edge_index.numel() > 0 and int(edge_index[1].max()) >= num_items:
            raise ValueError(f"'edge_index' holds item id "
                             f"{int(edge_index[1].max())} but 'num_items' is "
                             f"{num_items} in '{self.__class__.__name__}'")
        degree = torch.bincount(edge_index[0])
        if degree.numel() > 0 and int(degree.max()) >= num_items:
            user = int(degree.argmax())
            raise ValueError(f"User {user} interacted with every item, so no "
                             f"negative can be drawn for it in "
                             f"'{self.__class__.__name__}'")
        self.edge_index = edge_index
        self.num_items = num_items
        self.shuffle = shuffle
        self._keys = (edge_index[0] * num_items + edge_index[1]).sort()[0]

    def is_positive(self, user: Tensor, item: Tensor) -> Tensor:
        r"""Returns a boolean mask: is :obj:`(user, item)` a training
        interaction?"""
        if self._keys.numel() == 0:
            return torch.zeros_like(user, dtype=torch.bool)
        query = user * self.num_items + item
        pos = torch.searchsorted(self._keys, query)
        pos = pos.clamp_(max=self._keys.numel() - 1)
        return self._keys[pos] == query

    def sample(self, generator: Optional[torch.Generator] = None
               ) -> Tuple[Tensor, Tensor, Tensor]:
        r"""Returns :obj:`(user, pos, neg)`, each of size :obj:`[E]`."""
        user, pos = self.edge_index
        if self.shuffle:
            perm = torch.randperm(user.numel(), generator=generator)
            user, pos = user[perm], pos[perm]
        neg = torch.randint(self.num_items, user.size(), generator=generator)
        redo = self.is_positive(user, neg).nonzero().view(-1)
        while redo.numel() > 0:
            neg[redo] = torch.randint(self.num_items, redo.size(),
                                      generator=generator)
            redo = redo[self.is_positive(user[redo], neg[redo])]
        return user, pos, neg

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.edge_index.size(1)}, '
                f'num_items={self.num_items})')


def bpr_sample(edge_index: Tensor, num_items: int,
               generator: Optional[torch.Generator] = None,
               shuffle: bool = True) -> Tuple[Tensor, Tensor, Tensor]:
    r"""Functional form of :class:`BPRSampler` (builds the sorted keys on
    every call; keep a :class:`BPRSampler` for repeated epochs)."""
    return BPRSampler(edge_index, num_items, shuffle).sample(generator)
