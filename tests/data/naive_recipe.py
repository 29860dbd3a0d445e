r"""A naive reference of the RLMRec dataset recipe, written from its
description (Ren et al., WWW'24, Sec. 4.1.1; official repository issues
#9, #10, #23, #25) with Python loops, dictionaries and the standard
library's readers: the builder's vectorised pipeline must give the same
counts, the same split and the same text."""
import ast
import csv
import datetime
import gzip
import json
from collections import Counter, defaultdict

import numpy as np


def read_records(path):
    if path.endswith('.parquet'):
        import pyarrow.parquet as pq
        return pq.read_table(path).to_pylist()
    if path.endswith('.csv'):
        with open(path, newline='', encoding='utf-8') as f:
            return list(csv.DictReader(f))
    opener = gzip.open if path.endswith('.gz') else open
    out = []
    with opener(path, 'rt', encoding='utf-8') as f:
        for line in f:
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append(ast.literal_eval(line))
    return out


def _id(value):
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _time(value, fmt):
    if value is None or value == '':
        return None
    if fmt == 'unix_s':
        return int(value)
    if fmt == 'unix_ms':
        return int(value) // 1000
    return int(datetime.datetime.strptime(value, fmt).replace(
        tzinfo=datetime.timezone.utc).timestamp())


def naive_recipe(records, source, min_rating, user_fraction, k_core, ratios,
                 seed):
    r"""Returns ``(stats, triples, kept)``: the counts, the set of
    ``(user, item, split)`` raw-id triples and the kept interactions as
    ``(record, user, item, time)`` in file order."""
    stats = {'records': len(records)}
    rows = []
    missing_id = missing_rating = low = 0
    for k, rec in enumerate(records):
        u, i = _id(rec.get(source.user)), _id(rec.get(source.item))
        if u is None or i is None:
            missing_id += 1
            continue
        if min_rating is not None:
            r = rec.get(source.rating)
            if r is None or r == '':
                missing_rating += 1
                continue
            if float(r) < min_rating:
                low += 1
                continue
        t = _time(rec.get(source.time), source.time_format) \
            if source.time else None
        rows.append((k, u, i, t))
    stats['records without a user or item id'] = missing_id
    if min_rating is not None:
        stats['records without a rating'] = missing_rating
        stats[f'ratings below {min_rating:g}'] = low
    # The earliest record of a pair (a missing time is the latest).
    best = {}
    for k, u, i, t in rows:
        key = (t if t is not None else float('inf'), k)
        if (u, i) not in best or key < best[(u, i)][0]:
            best[(u, i)] = (key, (k, u, i, t))
    stats['duplicate (user, item) records'] = len(rows) - len(best)
    rows = sorted(v[1] for v in best.values())
    stats['interactions'] = len(rows)
    sample_seq, split_seq = np.random.SeedSequence(seed).spawn(2)
    users = sorted({u for _, u, _, _ in rows})
    stats['users before sampling'] = len(users)
    if user_fraction < 1:
        size = max(1, int(round(user_fraction * len(users))))
        pick = np.random.default_rng(sample_seq).choice(
            len(users), size=size, replace=False)
        chosen = {users[p] for p in pick}
    else:
        chosen = set(users)
    stats['users sampled'] = len(chosen)
    rows = [r for r in rows if r[1] in chosen]
    stats['interactions of sampled users'] = len(rows)
    while k_core > 1:
        u_deg = Counter(r[1] for r in rows)
        i_deg = Counter(r[2] for r in rows)
        kept = [r for r in rows if u_deg[r[1]] >= k_core
                and i_deg[r[2]] >= k_core]
        if len(kept) == len(rows):
            break
        rows = kept
    p = np.asarray(ratios, dtype=np.float64) / sum(ratios)
    rng = np.random.default_rng(split_seq)
    split = list(rng.choice(3, size=len(rows), p=p))
    rounds = redrawn = 0
    while True:
        u_train = Counter(r[1] for r, s in zip(rows, split) if s == 0)
        i_train = Counter(r[2] for r, s in zip(rows, split) if s == 0)
        bad = [n for n, r in enumerate(rows)
               if u_train[r[1]] == 0 or i_train[r[2]] == 0]
        if not bad:
            break
        for n, s in zip(bad, rng.choice(3, size=len(bad), p=p)):
            split[n] = s
        rounds += 1
        redrawn += len(bad)
    stats.update({
        'users': len({r[1] for r in rows}),
        'items': len({r[2] for r in rows}),
        'kept interactions': len(rows),
        'train': split.count(0), 'val': split.count(1),
        'test': split.count(2), 'split redraw rounds': rounds,
        'split redraws': redrawn})
    triples = {(u, i, int(s)) for (_, u, i, _), s in zip(rows, split)}
    return stats, triples, list(zip(rows, split))


def naive_reviews(records, source, kept, num):
    r"""Every user's and item's review texts: the non-empty texts among
    their ``num`` earliest training interactions."""
    per = {'user': defaultdict(list), 'item': defaultdict(list)}
    for (k, u, i, t), s in kept:
        if s == 0:
            key = (t if t is not None else float('inf'), k)
            per['user'][u].append((key, k))
            per['item'][i].append((key, k))
    out = {}
    for node_type, lists in per.items():
        out[node_type] = {}
        for node, entries in lists.items():
            texts = []
            for _, k in sorted(entries)[:num]:
                text = records[k].get(source.review)
                if text is not None and str(text).strip():
                    texts.append(str(text).strip())
            out[node_type][node] = texts
    return out
