r"""Loads a dataset and describes it: ``python -m rlmrec_pyg.data movielens``.
"""
import argparse
import logging
from typing import Dict, List, Optional

from torch_geometric.data import HeteroData

from rlmrec_pyg.data.movielens import MovieLensText
from rlmrec_pyg.data.rlmrec import RLMRecDataset
from rlmrec_pyg.typing import (EDGE, ITEM, SEM_EMB, TEST_INDEX, TEXT_FIELDS,
                               USER, VAL_INDEX, PROFILE)


def describe(data: HeteroData) -> Dict[str, object]:
    r"""Returns the statistics of a graph in the :mod:`rlmrec_pyg.data`
    representation: node counts, interactions per split, density and which
    text / semantic fields each node type carries."""
    num_users, num_items = data[USER].num_nodes, data[ITEM].num_nodes
    sizes = [data[EDGE][k].size(1)
             for k in ('edge_index', VAL_INDEX, TEST_INDEX)]
    out: Dict[str, object] = {
        'users': num_users,
        'items': num_items,
        'train': sizes[0],
        'val': sizes[1],
        'test': sizes[2],
        'density': sum(sizes) / (num_users * num_items),
    }
    for node_type in (USER, ITEM):
        fields = [f for f in TEXT_FIELDS + (PROFILE, ) if f in data[node_type]]
        if SEM_EMB in data[node_type]:
            fields.append(f'{SEM_EMB}{list(data[node_type][SEM_EMB].size())}')
        out[f'{node_type} fields'] = ', '.join(fields) or '-'
    return out


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('name', choices=['movielens', *RLMRecDataset.names])
    parser.add_argument('--root', default='data',
                        help='dataset root folder (default: data)')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    if args.name == 'movielens':
        dataset = MovieLensText(f'{args.root}/movielens')
    else:
        dataset = RLMRecDataset(f'{args.root}/rlmrec', args.name)
    print(f'{dataset}:')
    for key, value in describe(dataset[0]).items():
        value = f'{value:.5f}' if isinstance(value, float) else value
        print(f'  {key:<12} {value}')


if __name__ == '__main__':
    main()
