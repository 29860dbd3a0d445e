r"""AutoCF as used by RLMRec (official ``autocf.py`` and ``AutoCFTrainer``;
docs/parity.md#autocf-objective): learned subgraph masking, a GCN encoder
and a graph-transformer decoder."""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Parameter, ParameterList
from torch_geometric.typing import EdgeType, NodeType
from torch_geometric.utils import scatter, softmax

from rlmrec_pyg.nn.conv import BipartiteConv
from rlmrec_pyg.nn.conv.csr_autograd import CSRPattern, sddmm, spmm
from rlmrec_pyg.nn.functional import logsumexp_scores
from rlmrec_pyg.nn.models._propagation import (
    check_args,
    propagate_layers,
    split,
)
from rlmrec_pyg.nn.models.sgl import ssl_index
from rlmrec_pyg.nn.objective import (
    LossTerms,
    Objective,
    TrainBatch,
    batch_index,
)
from rlmrec_pyg.typing import EDGE, ITEM, REV_EDGE, USER

#: Edge type of the decoder graph over the stacked :obj:`[users; items]`
#: node ids (users first), as :meth:`AutoCF.sample_graph` returns it.
DECODER_EDGE: EdgeType = ('node', 'decodes', 'node')


def _stacked_edges(edge_index: Tensor, num_users: int) -> Tensor:
    # Both directions of the user-item edges over stacked ids: [2, 2E].
    user, item = edge_index[0].long(), edge_index[1].long() + num_users
    return torch.stack([torch.cat([user, item]), torch.cat([item, user])])


def _logsumexp_mean(query: Tensor, key: Tensor, index: Tensor) -> Tensor:
    # mean_r log sum_c exp(q_{i_r} . k_c): raw dot products, no temperature;
    # each distinct index scored once and weighted by its count.
    uniq, count = index.unique(return_counts=True)
    lse = logsumexp_scores(query[uniq], key)
    return (lse * count).sum() / index.numel()


class AutoCF(Objective):
    r"""The automated self-supervised encoder from the `"Automated
    Self-Supervised Learning for Recommendation"
    <https://arxiv.org/abs/2303.07797>`_ paper, in the form RLMRec's
    official code trains it (`"Representation Learning with Large Language
    Models for Recommendation" <https://arxiv.org/abs/2310.15950>`_):

    .. math::
        \mathbf{E}^{(l+1)} = \hat{\mathbf{A}}_{\text{enc}} \mathbf{E}^{(l)},
        \quad \mathbf{E}^{(L+1)} = \operatorname{GT}(\mathbf{E}^{(L)},
        \mathcal{G}_{\text{dec}}), \quad
        \mathbf{Z} = \sum_{l=0}^{L+1} \mathbf{E}^{(l)}

    where the graph transformer has :obj:`heads` heads of width
    :math:`d/h`, unscaled logits :math:`\mathbf{q}_r^{\top} \mathbf{k}_c`
    clamped to :math:`[-10, 10]`, a softmax over each row's edges, and no
    residual or activation. The encoder graph is
    :obj:`edge_index_dict[('user', 'to', 'item')]`; the decoder graph is
    :obj:`edge_index_dict[DECODER_EDGE]` (stacked ids) when present, else
    the edge pattern of :math:`\hat{\mathbf{A}}` (**without** self-loops,
    official evaluation, docs/parity.md#autocf-evaluation-graph;
    :obj:`eval_self_loops=True` adds them).

    Training follows :class:`AutoCFTrainer`: every :obj:`resample_every`
    batches :meth:`training_graph` calls :meth:`sample_graph`, which scores
    every node by the agreement of its 2-hop subgraph with itself (plus
    Gumbel noise), masks the :obj:`num_seeds` top nodes' subgraphs to depth
    :obj:`mask_depth` and returns the masked encoder graph, the decoder graph
    and the infomax term :math:`-\mathrm{mean}(\log s + g)` (the term
    :obj:`"infomax"`, in that batch only). :meth:`loss_terms` returns
    :obj:`"rec"` (:meth:`recommendation_loss`, instead of BPR) and the two
    parts of :meth:`ssl_loss`: :obj:`"ssl"` (the uniformity terms; official
    weight :obj:`ssl_reg`, 5 on Amazon) and :obj:`"ssl_cross"` (weight 1 in
    the official code), all unweighted
    (docs/parity.md#autocf-objective).

    Args:
        embedding_dim (int): Size :math:`d` of the input embeddings.
        num_layers (int, optional): GCN layers :math:`L` (official
            :obj:`gcn_layer`). (default: :obj:`2`)
        num_gt_layers (int, optional): Graph-transformer layers.
            (default: :obj:`1`)
        heads (int, optional): Attention heads. (default: :obj:`4`)
        num_seeds (int, optional): Seeds per sampled graph. (default:
            :obj:`100`)
        mask_depth (int, optional): Hops of masking. (default: :obj:`2`)
        sample_ratio (float, optional): Fraction of all nodes drawn into the
            decoder's pair pool (official :obj:`keep_rate`).
            (default: :obj:`0.2`)
        resample_every (int, optional): Batches between two
            :meth:`sample_graph` calls (official :obj:`fix_steps`).
            (default: :obj:`10`)
        eval_self_loops (bool, optional): Add self-loops to the default
            decoder graph. (default: :obj:`False`)
        backend (str, optional): Sparse layout of the GCN propagation (see
            :class:`~rlmrec_pyg.nn.LightGCN`). (default: :obj:`None`)
    """
    def __init__(self, embedding_dim: int, num_layers: int = 2,
                 num_gt_layers: int = 1, heads: int = 4,
                 num_seeds: int = 100,
                 mask_depth: int = 2, sample_ratio: float = 0.2,
                 resample_every: int = 10, eval_self_loops: bool = False,
                 backend: Optional[str] = None) -> None:
        super().__init__()
        name = self.__class__.__name__
        self.backend = check_args(embedding_dim, num_layers, backend, name)
        if heads <= 0 or embedding_dim % heads != 0:
            raise ValueError(f"'embedding_dim' must be a positive multiple of "
                             f"'heads' in '{name}' (got {embedding_dim} and "
                             f"{heads})")
        for key, value in (('num_gt_layers', num_gt_layers),
                           ('mask_depth', mask_depth)):
            if value < 0:
                raise ValueError(f"'{key}' must be non-negative in '{name}' "
                                 f"(got {value})")
        for key, value in (('num_seeds', num_seeds),
                           ('resample_every', resample_every)):
            if value <= 0:
                raise ValueError(f"'{key}' must be positive in '{name}' "
                                 f"(got {value})")
        if not 0 <= sample_ratio <= 1:
            raise ValueError(f"'sample_ratio' must lie in [0, 1] in '{name}' "
                             f"(got {sample_ratio})")
        self.embedding_dim = self.out_channels = embedding_dim
        self.num_layers, self.num_gt_layers = num_layers, num_gt_layers
        self.heads = heads
        self.num_seeds, self.mask_depth = num_seeds, mask_depth
        self.sample_ratio = float(sample_ratio)
        self.resample_every = resample_every
        self.eval_self_loops = eval_self_loops
        # The graphs of the last sample_graph (reused for resample_every
        # batches); not part of the state.
        self._graph: Optional[Dict[EdgeType, Tensor]] = None
        self.conv = BipartiteConv(self_loops=False)
        self.gt_weights = ParameterList([
            Parameter(torch.empty(embedding_dim, embedding_dim))
            for _ in range(3 * num_gt_layers)
        ])  # (query, key, value) per layer
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets the graph-transformer weights (Xavier-uniform)."""
        for weight in self.gt_weights:
            torch.nn.init.xavier_uniform_(weight)

    def graph_transformer(self, x: Tensor, edge_index: Tensor,
                          layer: int = 0) -> Tensor:
        r"""One graph-transformer layer: row :math:`r` aggregates
        :math:`\mathbf{v}_c` over its edges :math:`(r, c)` of
        :obj:`edge_index` (stacked ids)."""
        w_q, w_k, w_v = self.gt_weights[3 * layer:3 * layer + 3]
        pattern, _ = CSRPattern.from_edge_index(edge_index, x.size(0))
        width = self.embedding_dim // self.heads
        heads = [slice(h * width, (h + 1) * width) for h in range(self.heads)]
        # Per head, the logits q_r . k_c of every edge (an SDDMM)...
        att = torch.stack([
            sddmm(pattern, x @ w_q[:, h], x @ w_k[:, h]) for h in heads
        ]).clamp(-10.0, 10.0)  # [heads, nnz]
        att = softmax(att, ptr=pattern.rowptr, dim=1)
        # ... and the attention-weighted sum of v_c over each row (an SpMM).
        return torch.cat(
            [spmm(pattern, a, x @ w_v[:, h]) for a, h in zip(att, heads)],
            dim=-1)

    def forward(self, x_dict: Dict[NodeType, Tensor],
                edge_index_dict: Dict[EdgeType, Tensor]
                ) -> Dict[NodeType, Tensor]:
        r"""Returns the readout :obj:`z_dict` over the encoder graph
        :obj:`edge_index_dict[EDGE]` and the decoder graph
        :obj:`edge_index_dict[DECODER_EDGE]` (default: see above)."""
        xs = propagate_layers(self.conv, x_dict, edge_index_dict,
                              self.num_layers, self.backend, 0.0,
                              self.__class__.__name__)
        num_users = x_dict[USER].size(0)
        decoder = edge_index_dict.get(DECODER_EDGE)
        if decoder is None:
            decoder = _stacked_edges(edge_index_dict[EDGE], num_users)
            if self.eval_self_loops:
                loop = torch.arange(xs[0].size(0), device=decoder.device)
                decoder = torch.cat([decoder, loop.repeat(2, 1)], dim=1)
        for layer in range(self.num_gt_layers):
            xs.append(self.graph_transformer(xs[-1], decoder, layer))
        return split(torch.stack(xs).sum(dim=0), num_users)

    @torch.no_grad()
    def _mask(self, edge_index: Tensor, seeds: Tensor, num_users: int,
              num_nodes: int) -> Tuple[Tensor, Tensor]:
        # Vectorised official loop: drop every edge touching the current
        # seeds, the removed edges' endpoints seed the next hop.
        user, item = edge_index[0].long(), edge_index[1].long() + num_users
        keep = torch.ones_like(user, dtype=torch.bool)
        masked: List[Tensor] = [seeds]
        current = seeds
        for depth in range(self.mask_depth):
            hit = torch.zeros(num_nodes, dtype=torch.bool, device=user.device)
            hit[current] = True
            removed = keep & (hit[user] | hit[item])
            keep &= ~removed
            if depth != self.mask_depth - 1:
                current = torch.cat([user[removed], item[removed]]).unique()
                masked.append(current)
        return keep, torch.cat(masked)

    def sample_graph(
        self, x_dict: Dict[NodeType, Tensor],
        edge_index_dict: Dict[EdgeType, Tensor],
        generator: Optional[torch.Generator] = None
    ) -> Tuple[Dict[EdgeType, Tensor], Tensor]:
        r"""Samples the masked training graphs (official ``LocalGraph`` and
        ``RandomMaskSubgraphs``, vectorised) and returns them as a new
        :obj:`edge_index_dict` (masked :obj:`EDGE` / :obj:`REV_EDGE` and
        :obj:`DECODER_EDGE`) with the infomax loss. Pass the **unmasked**
        input embeddings (official ``autocf_gene``).

        Args:
            x_dict (Dict[str, torch.Tensor]): The input embeddings.
            edge_index_dict (Dict[Tuple[str, str, str], torch.Tensor]): The
                full training graph.
            generator (torch.Generator, optional): The random generator.
                (default: :obj:`None`)
        """
        x = propagate_layers(self.conv, x_dict, edge_index_dict, 0,
                             self.backend, 0.0, self.__class__.__name__)[0]
        num_users, num_nodes = x_dict[USER].size(0), x.size(0)
        edge_index = edge_index_dict[EDGE]
        row, col = _stacked_edges(edge_index, num_users)

        def agg(h: Tensor) -> Tensor:  # all-ones A @ h, no self-loops
            return scatter(h[col], row, dim=0, dim_size=num_nodes,
                           reduce='sum')

        deg = agg(x.new_ones(num_nodes, 1))
        first = agg(x) - x
        second = agg(first) - first - deg * x
        count = deg + (agg(deg) - deg) - deg
        sub = (first + second) / (count + 1e-8)
        cos = (F.normalize(sub) * F.normalize(x)).sum(dim=-1)
        # Random numbers on the generator's device, then moved to x's.
        rng = generator.device if generator is not None else x.device
        u = torch.rand(num_nodes, generator=generator, device=rng).to(x.device)
        u = u.masked_fill(u == 0, 1e-8)
        noisy = F.logsigmoid(cos) - (-u.log()).log()  # + Gumbel noise
        seeds = noisy.detach().topk(min(self.num_seeds, num_nodes)).indices
        keep, masked = self._mask(edge_index, seeds, num_users, num_nodes)
        encoder = edge_index[:, keep]
        num_pool = math.floor(num_nodes * self.sample_ratio)
        pool = torch.cat([
            masked,
            torch.randint(num_nodes, (num_pool, ), generator=generator,
                          device=rng).to(x.device)
        ]).unique()
        pair = pool[torch.randint(pool.numel(), (2, row.numel()),
                                  generator=generator,
                                  device=rng).to(x.device)]
        loop = torch.arange(num_nodes, device=x.device).repeat(2, 1)
        decoder = torch.cat([
            pair, pair.flip(0), loop,
            _stacked_edges(encoder, num_users)
        ], dim=1)
        key = (decoder[0] * num_nodes + decoder[1]).unique()
        decoder = torch.stack([key // num_nodes, key % num_nodes])
        out = dict(edge_index_dict)
        out[EDGE], out[REV_EDGE] = encoder, encoder.flip(0)
        out[DECODER_EDGE] = decoder
        return out, -noisy.mean()

    def recommendation_loss(self, z_dict: Dict[NodeType, Tensor],
                            user: Tensor, pos: Tensor) -> Tensor:
        r"""The official AutoCF recommendation loss
        :math:`-\frac{1}{|\mathcal{B}|} \sum_{(u, i^+)}
        \mathbf{z}_u^{\top} \mathbf{z}_{i^+}` (raw dot products, no
        negatives), used instead of BPR."""
        return -(z_dict[USER][user] * z_dict[ITEM][pos]).sum(dim=-1).mean()

    def ssl_loss(
        self, x_dict: Dict[NodeType, Tensor],
        edge_index_dict: Dict[EdgeType, Tensor],
        index_dict: Dict[NodeType, Union[Tensor, Sequence[Tensor]]],
        z_dict: Optional[Dict[NodeType, Tensor]] = None,
    ) -> LossTerms:
        r"""Computes the two parts of the official contrast on the readout
        over the graphs of :obj:`edge_index_dict` (the deterministic forward
        is recomputed unless its output :obj:`z_dict` is passed), unweighted
        (the official loss is :math:`\lambda \cdot` :obj:`"ssl"` +
        :obj:`"ssl_cross"`):

        .. math::
            \text{ssl} = C(\mathrm{uniq}(\mathcal{B}_u),
            \mathbf{Z}_{\mathcal{U}}, \mathbf{Z}_{\mathcal{U}})
            + C(\mathrm{uniq}(\mathcal{B}_+),
            \mathbf{Z}_{\mathcal{I}}, \mathbf{Z}_{\mathcal{I}}), \quad
            \text{ssl\_cross} = C(\mathcal{B}_u, \mathbf{Z}_{\mathcal{U}},
            \mathbf{Z}_{\mathcal{I}})

        with :math:`C(S, \mathbf{X}, \mathbf{Y}) = \frac{1}{|S|}
        \sum_{n \in S} \log \sum_{\mathbf{y} \in \mathbf{Y}}
        \exp(\mathbf{x}_n^{\top} \mathbf{y})` (log-sum-exp stable).

        Args:
            x_dict (Dict[str, torch.Tensor]): The input embeddings.
            edge_index_dict (Dict[Tuple[str, str, str], torch.Tensor]): The
                graphs of :meth:`sample_graph`.
            index_dict (Dict[str, torch.Tensor]): The batch: :obj:`'user'`
                indices and :obj:`'item'` positive indices (or the list
                :obj:`[positive, negative]`; negatives are not used).
            z_dict (Dict[str, torch.Tensor], optional): :meth:`forward` of
                the same inputs, to skip recomputing it. (default:
                :obj:`None`)
        """
        user, items = ssl_index(index_dict, self.__class__.__name__)
        if z_dict is None:
            z_dict = self(x_dict, edge_index_dict)
        z_user, z_item = z_dict[USER], z_dict[ITEM]
        uniform = (_logsumexp_mean(z_user, z_user, user.unique()) +
                   _logsumexp_mean(z_item, z_item, items[0].unique()))
        cross = _logsumexp_mean(z_user, z_item, user)
        return {'ssl': uniform, 'ssl_cross': cross}

    def training_graph(self, x_dict: Dict[NodeType, Tensor],
                       edge_index_dict: Dict[EdgeType, Tensor],
                       batch: TrainBatch
                       ) -> Tuple[Dict[EdgeType, Tensor], LossTerms]:
        r"""Every :obj:`resample_every` batches of an epoch (and at its
        first), new masked graphs from :meth:`sample_graph` with the
        :obj:`"infomax"` term; in between, the last graphs and no term."""
        if batch.step % self.resample_every == 0 or self._graph is None:
            self._graph, infomax = self.sample_graph(x_dict, edge_index_dict,
                                                     batch.generator)
            return self._graph, {'infomax': infomax}
        return self._graph, {}

    def loss_terms(self, x_dict: Dict[NodeType, Tensor],
                   edge_index_dict: Dict[EdgeType, Tensor], batch: TrainBatch
                   ) -> Tuple[Dict[NodeType, Tensor], LossTerms]:
        r"""Returns :obj:`(z_dict, {"rec", "ssl", "ssl_cross"})` on the
        graphs of :meth:`training_graph`; positives only (official)."""
        z_dict = self(x_dict, edge_index_dict)
        terms = {'rec': self.recommendation_loss(z_dict, batch.user,
                                                 batch.pos)}
        terms.update(self.ssl_loss(x_dict, edge_index_dict,
                                   batch_index(batch), z_dict=z_dict))
        return z_dict, terms

    def alignment_index(self, batch: TrainBatch
                        ) -> Dict[NodeType, List[Tensor]]:
        r"""The batch users and positive items (official ``autocf_plus``
        has no negative-item term)."""
        return {USER: [batch.user], ITEM: [batch.pos]}

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.embedding_dim}, '
                f'num_layers={self.num_layers}, '
                f'num_gt_layers={self.num_gt_layers}, heads={self.heads}, '
                f'num_seeds={self.num_seeds})')
