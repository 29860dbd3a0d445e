r"""RLMRec-Con and RLMRec-Gen (paper Sec. 3.3, Eq. 16-18, Algorithms 1-2) as
wrappers around any encoder ``(x_dict, edge_index_dict) -> z_dict``."""
import math
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Module, Parameter
from torch_geometric.typing import EdgeType, NodeType

from rlmrec_pyg.nn.alignment_base import (
    IndexGroups,
    _Alignment,
    _as_groups,
    _check_channels,
    _encoder_repr,
    _Projector,
    take_rows,
)
from rlmrec_pyg.nn.functional import info_nce
from rlmrec_pyg.nn.memory import ScoreMatrixTooLarge
from rlmrec_pyg.nn.objective import LossTerms, TrainBatch, loss_terms_of


class ContrastiveAlignment(_Alignment):
    r"""RLMRec-Con from the `"Representation Learning with Large Language
    Models for Recommendation" <https://arxiv.org/abs/2310.15950>`_ paper:
    aligns the encoder's node embeddings :math:`\mathbf{e}` with the
    semantic embeddings :math:`\mathbf{s}` projected into CF space by
    :math:`\sigma_{\downarrow}` (Eq. 16 and 18), one InfoNCE per group:

    .. math::
        \mathcal{L}_{\text{con}} = \sum_{\text{groups } \mathcal{G}}
        -\frac{1}{|\mathcal{G}|} \sum_{i \in \mathcal{G}} \log
        \frac{\exp(\cos(\mathbf{e}_i, \sigma_{\downarrow}(\mathbf{s}_i))
        / \tau)}{\sum_{j \in \mathcal{N}(\mathcal{G})}
        \exp(\cos(\mathbf{e}_i, \sigma_{\downarrow}(\mathbf{s}_j)) / \tau)}

    The anchor is the CF embedding, the candidates are projected semantics
    (not symmetrised). The negatives :math:`\mathcal{N}(\mathcal{G})` are the
    group's own rows for :obj:`"in_batch"` (the paper's text; duplicates are
    kept, as in the official code) or every node of that type for
    :obj:`"all"`. The official ``*_plus.py`` combination, users against all
    users and positive and negative items each against their own in-batch
    rows, is :obj:`negatives={'user': 'all', 'item': 'in_batch'}` with
    :obj:`index_dict={'user': [user], 'item': [pos, neg]}` (the official
    per-term sum divided by :math:`|\mathcal{B}|` equals this sum of means).
    Only the rows the loss needs are projected: the unique rows of the groups
    for :obj:`"in_batch"`, all rows of the type for :obj:`"all"`; a node
    repeated in a group is scored once and counted with its multiplicity
    (the same loss as with the duplicates, for less work).

    In training, :meth:`loss_terms` returns the encoder's terms and
    :obj:`"align"` (unweighted; the official :obj:`kd_weight` is the
    trainer's :obj:`loss_weights["align"]`).

    .. code-block:: python

        gnn = to_hetero(GraphSAGE(-1, 64, num_layers=2), data.metadata())
        model = Recommender(ContrastiveAlignment(gnn), data, embedding_dim=64)
        Trainer(loss_weights={'align': 0.01}).fit(model, data, optimizer)

    Args:
        encoder (torch.nn.Module): Any module mapping :obj:`(x_dict,
            edge_index_dict)` to :obj:`z_dict`, *e.g.*, the output of
            :meth:`torch_geometric.nn.to_hetero`. The objective of a backbone
            of :mod:`rlmrec_pyg.nn` (its SSL terms) is kept.
        sem_channels (int, optional): Size of the semantic (text)
            embeddings; :obj:`-1` infers it from the data.
            (default: :obj:`-1`)
        out_channels (int, optional): Size of the encoder's output
            embeddings (the readout width, *e.g.*, 96 for a 2-layer GCCF);
            :obj:`-1` infers it from one forward. (default: :obj:`-1`)
        temperature (float, optional): InfoNCE temperature :math:`\tau`.
            (default: :obj:`0.2`)
        negatives (str or Dict[str, str], optional): :obj:`"in_batch"` or
            :obj:`"all"`, for every node type or per node type (unlisted types
            use :obj:`"in_batch"`). (default: :obj:`"in_batch"`)
        max_candidates (int, optional): For in-batch negatives, the most
            candidates an anchor is scored against: a larger group is cut,
            in batch order, into blocks of :obj:`max_candidates` rows, and
            each row's negatives are its block's rows (the group's loss is
            the mean over all its rows, as without blocks). A step then
            costs :math:`O(|\mathcal{B}| \cdot m)` for :math:`m` =
            :obj:`max_candidates` instead of :math:`O(|\mathcal{B}|^2)`:
            for large-batch training; not the paper's setting. Under
            data-parallel training the blocks are those of the global
            batch, as on one process. :obj:`None` keeps whole groups.
            (default: :obj:`None`)
        bf16 (bool, optional): Run the projector in bfloat16 autocast (the
            similarity scores stay in float32). (default: :obj:`False`)
    """
    MODES = ('in_batch', 'all')

    def __init__(self, encoder: Module, sem_channels: int = -1,
                 out_channels: int = -1, temperature: float = 0.2,
                 negatives: Union[str, Dict[NodeType, str]] = 'in_batch',
                 bf16: bool = False,
                 max_candidates: Optional[int] = None) -> None:
        super().__init__(encoder, sem_channels, out_channels, temperature,
                         bf16)
        if max_candidates is not None and (
                isinstance(max_candidates, bool)
                or not isinstance(max_candidates, int) or max_candidates < 1):
            raise ValueError(f"'max_candidates' must be a positive int or "
                             f"None in '{self.__class__.__name__}' (got "
                             f"{max_candidates!r})")
        self.max_candidates = max_candidates
        if not isinstance(negatives, (str, dict)) and not hasattr(
                negatives, 'items'):
            raise TypeError(f"'negatives' must be a str or a dict in "
                            f"'{self.__class__.__name__}' (got "
                            f"{type(negatives).__name__})")
        modes = [negatives] if isinstance(negatives, str) else list(
            dict(negatives).values())
        for mode in modes:
            if mode not in self.MODES:
                raise ValueError(f"'negatives' must be one of {self.MODES} "
                                 f"in '{self.__class__.__name__}' (got "
                                 f"'{mode}')")
        self.negatives: Union[str, Dict[NodeType, str]] = (
            negatives if isinstance(negatives, str) else dict(negatives))
        if -1 not in (sem_channels, out_channels):
            self._build()

    def _build(self) -> None:
        self.projector = _Projector(self.sem_channels, self.out_channels)

    def negatives_of(self, node_type: NodeType) -> str:
        r"""The negative set used for :obj:`node_type`."""
        if isinstance(self.negatives, str):
            return self.negatives
        return self.negatives.get(node_type, 'in_batch')

    def loss_terms(self, x_dict: Dict[NodeType, Tensor],
                   edge_index_dict: Dict[EdgeType, Tensor], batch: TrainBatch
                   ) -> Tuple[Dict[NodeType, Tensor], LossTerms]:
        r"""Returns the encoder's :obj:`(z_dict, terms)` with
        :obj:`"align"`: :math:`\mathcal{L}_{\text{con}}` of its output over
        the batch's users, positive and negative items (official
        ``*_plus``; AutoCF's: users and positive items)."""
        z_dict, terms = loss_terms_of(self.encoder, x_dict, edge_index_dict,
                                      batch)
        # `gather` only under data-parallel training (an override written
        # for the three-argument form keeps working on one process).
        extra = {} if batch.gather is None else dict(gather=batch.gather)
        terms['align'] = self.alignment_loss(z_dict, batch.sem_dict,
                                             self.alignment_index(batch),
                                             **extra)
        return z_dict, terms

    def alignment_loss(self, z_dict: Dict[NodeType, Tensor],
                       sem_dict: Dict[NodeType, Tensor],
                       index_dict: Dict[NodeType, IndexGroups],
                       gather: Optional[Callable[[Tensor], Tensor]] = None
                       ) -> Tensor:
        r"""Computes :math:`\mathcal{L}_{\text{con}}`.

        Args:
            z_dict (Dict[str, torch.Tensor]): The encoder's output.
            sem_dict (Dict[str, torch.Tensor]): Semantic embeddings
                :obj:`[num_nodes, sem_channels]` per node type, *e.g.*,
                :obj:`data.sem_emb_dict`.
            index_dict (Dict[str, torch.Tensor or List[torch.Tensor]]): Per
                node type, the batch's node indices, or a list of index
                tensors, one InfoNCE group each.
            gather (Callable, optional): Under data-parallel training,
                concatenates an index over all processes: the in-batch
                candidates of a group are then the global batch's, while
                the anchors stay this process's rows
                (:attr:`TrainBatch.gather`). (default: :obj:`None`)
        """
        losses: List[Tensor] = []
        for nt, groups in _as_groups(index_dict, self).items():
            z, sem = self._rows(nt, z_dict, sem_dict)
            try:
                losses.extend(self._group_losses(nt, z, sem, groups, gather))
            except ScoreMatrixTooLarge as e:
                if self.negatives_of(nt) == 'all':
                    advice = (f"use in-batch negatives for '{nt}' "
                              f"(negatives={{'{nt}': 'in_batch', ...}}; "
                              f"config: alignment.module.negatives."
                              f"{nt}=in_batch), whose cost does not grow "
                              f"with the catalogue (not the paper's "
                              f"setting)")
                else:
                    advice = ("cap the in-batch candidates "
                              "(max_candidates=4096; config: alignment."
                              "module.max_candidates=4096) or use a "
                              "smaller trainer.batch_size")
                raise e.explained(f"RLMRec-Con's '{nt}' term needs a",
                                  advice) from None
        return torch.stack(losses).sum()

    def _project(self, sem: Tensor, like: Tensor) -> Tensor:
        # bf16: only the projector's GEMMs; the scores stay in `like`'s
        # dtype (float32), so the CPU keeps the blocked log-sum-exp.
        with self._autocast(like):
            key = self.projector(sem)
        return key.to(like.dtype)

    def _group_losses(self, nt: NodeType, z: Tensor, sem: Tensor,
                      groups: List[Tensor],
                      gather: Optional[Callable[[Tensor], Tensor]] = None
                      ) -> List[Tensor]:
        # Repeated nodes of a group are computed once, weighted by their
        # count (an exact rewrite of the loss with duplicates, see info_nce).
        if self.negatives_of(nt) == 'all':
            key = self._project(take_rows(sem, None, z), z)  # [N, out]
            losses = []
            for index in groups:
                uniq, count = index.unique(return_counts=True)
                losses.append(
                    info_nce(z[uniq], key, uniq, self.temperature, count))
            return losses
        # In-batch: this process's rows are the anchors and the whole
        # batch's rows the candidates (under data-parallel training `gather`
        # collects every process's, so the mean over processes is the
        # one-process loss of the global batch; alone, they are the same).
        everyone = groups if gather is None else [gather(i) for i in groups]
        union = torch.cat(everyone).unique()
        key = self._project(take_rows(sem, union, z), z)  # [unique, out]
        losses = []
        for index, candidates in zip(groups, everyone):
            offset = (0 if gather is None or self.max_candidates is None
                      else _offset(index, gather))
            parts = []  # per block: weight, anchors, candidates, targets
            for anchors, block in self._blocks(index, candidates, offset):
                uniq, count = anchors.unique(return_counts=True)
                cand, cand_count = ((uniq, count) if gather is None else
                                    block.unique(return_counts=True))
                target = (None if gather is None else  # alone: the block
                          torch.searchsorted(cand, uniq))  # is its own set
                parts.append((anchors.numel() / index.numel(), uniq, count,
                              cand, cand_count, target))
            weight, uniq, count, cand, cand_count, target = zip(*parts)
            # One gather of every block's rows, split into views: the
            # backward is one scatter, not one full-size gradient per block.
            queries = z[torch.cat(uniq)].split([u.numel() for u in uniq])
            keys = key[torch.searchsorted(union, torch.cat(cand))].split(
                [c.numel() for c in cand])
            terms = [info_nce(q, k, t, self.temperature, n, m)
                     for q, k, t, n, m in zip(queries, keys, target, count,
                                              cand_count)]
            # One block (the default): its loss as is, the same autograd
            # graph (and float sums) as without blocks.
            losses.append(terms[0] if len(terms) == 1 else sum(
                w * term for w, term in zip(weight, terms)))
        return losses

    def _blocks(self, index: Tensor, candidates: Tensor,
                offset: int) -> List[Tuple[Tensor, Tensor]]:
        # (anchors, candidates) per block of `max_candidates` positions of
        # the whole batch; this process's rows start at `offset` in it.
        size = self.max_candidates
        if size is None or candidates.numel() <= size or index.numel() == 0:
            return [(index, candidates)]
        first = offset // size
        last = (offset + index.numel() - 1) // size
        return [(index[max(b * size - offset, 0):(b + 1) * size - offset],
                 candidates[b * size:(b + 1) * size])
                for b in range(first, last + 1)]

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({_encoder_repr(self.encoder)}, '
                f'sem_channels={self.sem_channels}, '
                f'out_channels={self.out_channels}, '
                f'temperature={self.temperature}, '
                f'negatives={self.negatives!r}' + (
                    '' if self.max_candidates is None else
                    f', max_candidates={self.max_candidates}') + ')')


def _offset(index: Tensor, gather: Callable[[Tensor], Tensor]) -> int:
    # Where this process's rows start in the gathered batch (the processes'
    # rows are concatenated in rank order).
    sizes = gather(index.new_tensor([index.numel()]))
    return int(sizes[:torch.distributed.get_rank()].sum())


class MaskedGenerativeAlignment(_Alignment):
    r"""RLMRec-Gen from the `"Representation Learning with Large Language
    Models for Recommendation" <https://arxiv.org/abs/2310.15950>`_ paper
    (Eq. 17, Algorithm 2): a :obj:`mask_ratio` fraction of the input rows of
    users and items, drawn **jointly** from one pool of
    :math:`N = |\mathcal{U}| + |\mathcal{I}|` nodes by :meth:`sample_mask`, is
    replaced by one learnable mask token (zero init, shared by all node
    types, as the official ``NodeMask``); the generator
    :math:`\sigma_{\uparrow}` maps the masked nodes' output embeddings
    :math:`\hat{\mathbf{e}}` to semantic space, where they must find their own
    semantic vector among those of **all** masked nodes (users and items
    mixed, official ``ssl_con_loss``):

    .. math::
        \mathcal{L}_{\text{gen}} = -\frac{1}{|\mathcal{M}|}
        \sum_{m \in \mathcal{M}} \log
        \frac{\exp(\cos(\sigma_{\uparrow}(\hat{\mathbf{e}}_m),
        \mathbf{s}_m) / \tau)}{\sum_{m' \in \mathcal{M}}
        \exp(\cos(\sigma_{\uparrow}(\hat{\mathbf{e}}_m), \mathbf{s}_{m'})
        / \tau)}

    :obj:`reconstruction="cosine"` gives the paper's plain form
    :math:`-\frac{1}{|\mathcal{M}|}\sum_m \cos(\sigma_{\uparrow}
    (\hat{\mathbf{e}}_m), \mathbf{s}_m)` (Eq. 17 without the normalisation
    over other masked nodes). As in the official ``*_gene.py``, the whole
    training objective of the encoder runs on the masked input
    (:meth:`loss_terms`), so the BPR loss and a backbone's own SSL terms see
    the masked embeddings; :obj:`"align"` is returned unweighted (official
    :obj:`recon_weight`: the trainer's :obj:`loss_weights["align"]`).
    Without :obj:`mask_dict` the forward is the plain encoder (evaluation).

    .. code-block:: python

        model = Recommender(MaskedGenerativeAlignment(gnn, mask_ratio=0.15),
                            data, embedding_dim=64)
        Trainer(loss_weights={'align': 0.1}).fit(model, data, optimizer)

    Args:
        encoder (torch.nn.Module): Any module mapping :obj:`(x_dict,
            edge_index_dict)` to :obj:`z_dict`.
        in_channels (int, optional): Size of the encoder's input rows (the
            mask token); :obj:`-1` infers it. (default: :obj:`-1`)
        sem_channels (int, optional): Size of the semantic (text)
            embeddings; :obj:`-1` infers it. (default: :obj:`-1`)
        out_channels (int, optional): Size of the encoder's output
            embeddings; :obj:`-1` infers it. (default: :obj:`-1`)
        mask_ratio (float, optional): Fraction of all :math:`N` nodes masked
            per step (:math:`\lfloor N \cdot r \rfloor`, at least one).
            (default: :obj:`0.1`)
        temperature (float, optional): InfoNCE temperature :math:`\tau`.
            (default: :obj:`0.2`)
        reconstruction (str, optional): :obj:`"info_nce"` (official) or
            :obj:`"cosine"` (paper). (default: :obj:`"info_nce"`)
        bf16 (bool, optional): Run the generator and the similarity GEMMs
            of the loss in bfloat16 autocast. (default: :obj:`False`)
        max_masked (int, optional): At most this many nodes masked per
            step, so that the :math:`|\mathcal{M}|^2` similarities of the
            loss stop growing with the catalogue (not the paper's setting,
            which masks :math:`\lfloor N \cdot r \rfloor`).
            (default: :obj:`None`)
    """
    RECONSTRUCTIONS = ('info_nce', 'cosine')

    def __init__(self, encoder: Module, in_channels: int = -1,
                 sem_channels: int = -1, out_channels: int = -1,
                 mask_ratio: float = 0.1, temperature: float = 0.2,
                 reconstruction: str = 'info_nce', bf16: bool = False,
                 max_masked: Optional[int] = None) -> None:
        super().__init__(encoder, sem_channels, out_channels, temperature,
                         bf16)
        _check_channels(in_channels, 'in_channels', self, lazy=True)
        if not isinstance(mask_ratio, (int, float)) or not 0 < mask_ratio < 1:
            raise ValueError(f"'mask_ratio' must lie in (0, 1) in "
                             f"'{self.__class__.__name__}' (got "
                             f"{mask_ratio!r})")
        if reconstruction not in self.RECONSTRUCTIONS:
            raise ValueError(f"'reconstruction' must be one of "
                             f"{self.RECONSTRUCTIONS} in "
                             f"'{self.__class__.__name__}' (got "
                             f"'{reconstruction}')")
        if max_masked is not None and (isinstance(max_masked, bool)
                                       or not isinstance(max_masked, int)
                                       or max_masked <= 0):
            raise ValueError(f"'max_masked' must be a positive integer or "
                             f"None in '{self.__class__.__name__}' (got "
                             f"{max_masked!r})")
        self.in_channels = in_channels
        self.mask_ratio = float(mask_ratio)
        self.max_masked = max_masked
        self.reconstruction = reconstruction
        self.mask_token: Optional[Parameter] = None
        if -1 not in (in_channels, sem_channels, out_channels):
            self._build()

    def _infer(self, x_dict: Dict[NodeType, Tensor]) -> None:
        if self.in_channels == -1:
            self.in_channels = int(next(iter(x_dict.values())).size(-1))

    def _build(self) -> None:
        if self.in_channels == -1:
            raise RuntimeError(
                f"'{self.__class__.__name__}' has 'in_channels' left to "
                f"infer (-1): build it through Recommender(..., data) or "
                f"call initialize(x_dict, edge_index_dict, data) first")
        self.mask_token = Parameter(torch.zeros(1, self.in_channels))
        self.projector = _Projector(self.out_channels, self.sem_channels)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.mask_token is not None:
            torch.nn.init.zeros_(self.mask_token)

    def sample_mask(
        self,
        num_nodes_dict: Dict[NodeType, int],
        generator: Optional[torch.Generator] = None,
        device: Optional[torch.device] = None,
    ) -> Dict[NodeType, Tensor]:
        r"""Draws :math:`\lfloor N \cdot r \rfloor` (at least one, at most
        :obj:`max_masked`) distinct
        nodes uniformly from all :math:`N` nodes of all types together
        (stacked in the order of :obj:`num_nodes_dict`) and returns one
        boolean mask per node type.

        Args:
            num_nodes_dict (Dict[str, int]): Number of nodes per type.
            generator (torch.Generator, optional): The random generator.
            device (torch.device, optional): Device of the masks (default:
                the generator's device, else CPU).
        """
        sizes = [int(n) for n in num_nodes_dict.values()]
        num_nodes = sum(sizes)
        if len(sizes) == 0 or min(sizes) < 0 or num_nodes == 0:
            raise ValueError(f"'num_nodes_dict' must hold non-negative sizes "
                             f"with a positive sum in "
                             f"'{self.__class__.__name__}' (got "
                             f"{num_nodes_dict})")
        num_masked = max(1, math.floor(num_nodes * self.mask_ratio))
        if self.max_masked is not None:
            num_masked = min(num_masked, self.max_masked)
        gen_device = generator.device if generator is not None else 'cpu'
        perm = torch.randperm(num_nodes, generator=generator,
                              device=gen_device)
        mask = torch.zeros(num_nodes, dtype=torch.bool, device=gen_device)
        mask[perm[:num_masked]] = True
        mask = mask.to(device) if device is not None else mask
        return dict(zip(num_nodes_dict, mask.split(sizes)))

    def mask_inputs(
        self,
        x_dict: Dict[NodeType, Tensor],
        mask_dict: Dict[NodeType, Tensor],
    ) -> Dict[NodeType, Tensor]:
        r"""Replaces the masked rows of :obj:`x_dict` by the mask token:
        :math:`\mathbf{X}' = \mathbf{X} \odot (1 - \mathbf{m}) +
        \mathbf{t}\,\mathbf{m}`."""
        out = dict(x_dict)
        self._ensure_built(next(iter(x_dict.values())))
        assert self.mask_token is not None
        for nt, mask in mask_dict.items():
            x = x_dict[nt]
            if mask.dtype != torch.bool or mask.size() != (x.size(0), ):
                raise ValueError(f"Expected a boolean 'mask_dict' for node "
                                 f"type '{nt}' of shape [{x.size(0)}] in "
                                 f"'{self.__class__.__name__}' (got "
                                 f"{mask.dtype} {list(mask.size())})")
            token = self.mask_token.to(x.dtype)
            out[nt] = torch.where(mask.to(x.device).view(-1, 1), token, x)
        return out

    def forward(self, x_dict: Dict[NodeType, Tensor],
                edge_index_dict: Dict[EdgeType, Tensor],
                mask_dict: Optional[Dict[NodeType, Tensor]] = None,
                **kwargs: Any) -> Dict[NodeType, Tensor]:
        r"""Runs the encoder on the masked input (unmasked if
        :obj:`mask_dict` is :obj:`None`) and returns its :obj:`z_dict`
        (further keyword arguments go to the encoder)."""
        if mask_dict is not None:
            x_dict = self.mask_inputs(x_dict, mask_dict)
        return self.encoder(x_dict, edge_index_dict, **kwargs)

    def loss_terms(self, x_dict: Dict[NodeType, Tensor],
                   edge_index_dict: Dict[EdgeType, Tensor], batch: TrainBatch
                   ) -> Tuple[Dict[NodeType, Tensor], LossTerms]:
        r"""Draws a mask (:meth:`sample_mask`, from the batch's generator),
        runs the encoder's whole objective on the masked input (its BPR and
        SSL terms too, as the official ``*_gene``) and adds :obj:`"align"`:
        :math:`\mathcal{L}_{\text{gen}}` over the masked nodes."""
        num_nodes = {nt: x.size(0) for nt, x in x_dict.items()}
        device = next(iter(x_dict.values())).device
        mask_dict = self.sample_mask(num_nodes, generator=batch.generator,
                                     device=device)
        z_dict, terms = loss_terms_of(self.encoder,
                                      self.mask_inputs(x_dict, mask_dict),
                                      edge_index_dict, batch)
        terms['align'] = self.alignment_loss(z_dict, batch.sem_dict,
                                             mask_dict)
        return z_dict, terms

    def alignment_loss(self, z_dict: Dict[NodeType, Tensor],
                       sem_dict: Dict[NodeType, Tensor],
                       index_dict: Dict[NodeType, IndexGroups]) -> Tensor:
        r"""Computes :math:`\mathcal{L}_{\text{gen}}` over all masked nodes.

        Args:
            z_dict (Dict[str, torch.Tensor]): The masked forward's output.
            sem_dict (Dict[str, torch.Tensor]): Semantic embeddings
                :obj:`[num_nodes, sem_channels]` per node type.
            index_dict (Dict[str, torch.Tensor]): The masked nodes per type:
                the boolean masks of :meth:`sample_mask`, or indices.
        """
        rows: List[Tensor] = []
        sems: List[Tensor] = []
        for nt, groups in _as_groups(index_dict, self,
                                     skip_empty=True).items():
            z, sem = self._rows(nt, z_dict, sem_dict)
            index = torch.cat(groups)
            rows.append(z[index])
            sems.append(take_rows(sem, index, z))
        with self._autocast(rows[0]):
            pred = self.projector(torch.cat(rows))  # [num_masked, sem_chan.]
            sem = torch.cat(sems)
            if self.reconstruction == 'cosine':
                loss = -F.cosine_similarity(pred, sem, dim=-1).mean()
            else:
                try:
                    loss = info_nce(pred, sem, None, self.temperature)
                except ScoreMatrixTooLarge as e:
                    raise e.explained(
                        f"RLMRec-Gen's loss over all {pred.size(0)} masked "
                        f"nodes needs a",
                        "cap the masked set (max_masked=K; config: "
                        "alignment.module.max_masked=K, e.g. 16384), whose "
                        "cost does not grow with the catalogue (not the "
                        "paper's setting)") from None
        return loss.to(rows[0].dtype)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({_encoder_repr(self.encoder)}, '
                f'in_channels={self.in_channels}, '
                f'sem_channels={self.sem_channels}, '
                f'out_channels={self.out_channels}, '
                f'mask_ratio={self.mask_ratio}, '
                f'temperature={self.temperature}, '
                f'reconstruction={self.reconstruction!r}'
                + (f', max_masked={self.max_masked}'
                   if self.max_masked is not None else '') + ')')
