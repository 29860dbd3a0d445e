r"""Trains a backbone on RLMRec's Amazon-book split with the official
settings and prints / writes the test metrics of the best-validation
checkpoint.

    RLMREC_DATA_CACHE=/path/to/data python benchmarks/amazon_accuracy.py \
        --model lightgcn --seed 2023 --out /tmp/runs/lightgcn_2023
"""
import argparse
import json
import logging
import os
import os.path as osp
import sys
import time
import warnings

import torch
from torch_geometric import seed_everything

from rlmrec_pyg.data import RLMRecDataset
from rlmrec_pyg.nn import GCCF, LightGCN, NodeEmbedding
from rlmrec_pyg.train import Trainer

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from pyg_lightgcn import NoEmbedding, PyGLightGCNEncoder  # noqa: E402

warnings.filterwarnings('ignore', '.*Sparse CSR tensor support.*')
warnings.filterwarnings('ignore', '.*Sparse invariant checks.*')

parser = argparse.ArgumentParser()
parser.add_argument('--model', choices=['lightgcn', 'gccf', 'pyg_lightgcn'],
                    default='lightgcn')
parser.add_argument('--seed', type=int, default=2023)
parser.add_argument('--root', default='/tmp/rlmrec_data')
parser.add_argument('--out', required=True)
parser.add_argument('--backend', default=None)
parser.add_argument('--max_epochs', type=int, default=3000)
parser.add_argument('--resume', action='store_true')
args = parser.parse_args()

os.makedirs(args.out, exist_ok=True)
logging.basicConfig(
    level=logging.INFO, format='%(asctime)s %(message)s', handlers=[
        logging.FileHandler(osp.join(args.out, 'train.log')),
        logging.StreamHandler()
    ])
seed_everything(args.seed)
data = RLMRecDataset(args.root, 'amazon')[0]
sizes = {nt: data[nt].num_nodes for nt in data.node_types}
if args.model == 'pyg_lightgcn':
    model = PyGLightGCNEncoder(data, 32, 3)
    embedding = NoEmbedding()
else:
    model = (LightGCN(32, 3, 0.2, backend=args.backend) if args.model
             == 'lightgcn' else GCCF(32, 2, backend=args.backend))
    embedding = NodeEmbedding(sizes, 32)
params = list(model.parameters()) + list(embedding.parameters())
optimizer = torch.optim.Adam(params, lr=1e-3, fused=True)
trainer = Trainer(max_epochs=args.max_epochs, lambda_reg=1e-6,
                  seed=args.seed,
                  checkpoint_path=osp.join(args.out, 'best.pt'))
t0 = time.time()
result = trainer.fit(model, embedding, data, optimizer, resume=args.resume)
result.update(model=args.model, seed=args.seed, wall_seconds=time.time() - t0,
              threads=torch.get_num_threads())
with open(osp.join(args.out, 'metrics.json'), 'w') as f:
    json.dump(result, f, indent=2)
print(json.dumps(result, indent=2))
