r"""Workers of the data-parallel tests: one training step (SGD, lr 1, so
that the parameter change is minus the gradient) of a model built the same
way in every process, alone or as one rank of a gloo group."""
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from rlmrec_pyg.data import BPRSampler
from rlmrec_pyg.nn import SGL, ContrastiveAlignment, LightGCN, Recommender
from rlmrec_pyg.testing import get_clustered_rec_data
from rlmrec_pyg.train.loop import LossTermsModule, loss_weights, train_epoch
from rlmrec_pyg.typing import EDGE

WEIGHTS = {'align': 0.5, 'ssl': 0.3, 'reg': 1e-3}


def build(kind):
    torch.manual_seed(0)
    data = get_clustered_rec_data(num_users=40, num_items=48,
                                  interactions_per_user=7, sem_channels=12,
                                  with_text=False)
    if kind == 'lightgcn_con':
        encoder = ContrastiveAlignment(
            LightGCN(8, num_layers=2),
            negatives={'user': 'all', 'item': 'in_batch'})
    elif kind == 'lightgcn_con_in_batch':
        encoder = ContrastiveAlignment(LightGCN(8, num_layers=2))
    elif kind == 'lightgcn_con_blocks':  # blocks across the shares' border
        encoder = ContrastiveAlignment(LightGCN(8, num_layers=2),
                                       max_candidates=9)
    elif kind == 'sgl':
        encoder = SGL(8, num_layers=2, edge_drop_rate=0.2)
    else:
        raise ValueError(kind)
    model = Recommender(encoder, data, embedding_dim=8)
    return data, model


def one_step(kind, batch_size):
    r"""Returns (parameter changes, epoch stats) of an epoch of SGD steps."""
    data, model = build(kind)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    ddp = None
    if dist.is_initialized():
        ddp = DistributedDataParallel(LossTermsModule(model),
                                      find_unused_parameters=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    if batch_size == 'odd':  # an odd first batch (unequal shares) and a
        # last batch of one row (fewer rows than processes)
        num = data[EDGE].edge_index.size(1)
        batch_size = num - 1 if num % 2 == 0 else num - 2
    sampler = BPRSampler(data[EDGE].edge_index, data['item'].num_nodes)
    gen = torch.Generator().manual_seed(5)
    stats = train_epoch(model, data, optimizer, sampler, batch_size,
                        loss_weights(WEIGHTS), 'all', gen, ddp_module=ddp)
    delta = {k: (v.detach() - before[k]) for k, v in model.named_parameters()}
    return delta, stats


def worker(rank, world, init_file, kind, batch_size, out_dir):
    os.environ.pop('WORLD_SIZE', None)
    dist.init_process_group('gloo', init_method=f'file://{init_file}',
                            rank=rank, world_size=world)
    try:
        torch.set_num_threads(1)
        delta, stats = one_step(kind, batch_size)
        torch.save(dict(delta=delta, stats=stats),
                   os.path.join(out_dir, f'rank{rank}.pt'))
    finally:
        dist.destroy_process_group()
