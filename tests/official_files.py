r"""Tiny raw folders in the layout of the official RLMRec release
(``trn_mat.pkl``, ``val_mat.pkl``, ``tst_mat.pkl`` and the optional
profile / embedding pickles), for dataset tests."""
import pickle

import numpy as np
import scipy.sparse as sp


def write_official_split(folder, num_users=6, num_items=5, seed=0,
                         extras=True):
    rng = np.random.default_rng(seed)
    keys = rng.permutation(num_users * num_items)[:18]
    parts = np.array_split(keys, 3)
    folder.mkdir(parents=True, exist_ok=True)
    for f, k in zip(('trn', 'val', 'tst'), parts):
        mat = sp.coo_matrix((np.ones(len(k)), (k // num_items,
                                               k % num_items)),
                            shape=(num_users, num_items))
        with open(folder / f'{f}_mat.pkl', 'wb') as out:
            pickle.dump(mat, out)
    if extras:
        usr = {i: {'profile': f'user {i}', 'reasoning': f'why {i}'}
               for i in range(num_users)}
        itm = [{'profile': f'item {i}', 'reasoning': ''}
               for i in range(num_items)]
        for name, obj in (('usr_prf', usr), ('itm_prf', itm),
                          ('usr_emb_np', rng.random((num_users, 4))),
                          ('itm_emb_np', rng.random((num_items, 4)))):
            with open(folder / f'{name}.pkl', 'wb') as out:
                pickle.dump(obj, out)
    return parts
