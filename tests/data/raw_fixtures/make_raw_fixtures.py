r"""Writes the small raw-format fixtures of ``tests/data/test_raw_reviews.py``
(checked in; rerun only to change them): one interactions file and one item
metadata file per raw format, in the field names and value shapes of the
public dumps, with the dirt those dumps have: duplicated (user, item)
pairs, low ratings, missing and blank ids, blank lines, padded ids, empty
reviews, items without metadata.

Review texts name their user and item (``"<user> on <item>: ..."``) so
that the tests can check that no validation or test review reaches a node.

    python tests/data/raw_fixtures/make_raw_fixtures.py
"""
import csv
import datetime
import gzip
import json
import os.path as osp
import random

HERE = osp.dirname(osp.abspath(__file__))


def world(seed: int, users: int = 30, items: int = 22, records: int = 520):
    rng = random.Random(seed)
    out = []
    popular = [rng.random() ** 2 for _ in range(items)]
    for k in range(records):
        u = f'U{rng.randrange(users):03d}'
        i = f'I{rng.choices(range(items), weights=popular)[0]:03d}'
        rating = rng.choice([1, 2, 3, 3, 4, 4, 5, 5, 5])
        time = 1_300_000_000 + rng.randrange(300_000_000)
        if rng.random() < 0.08:  # a duplicate of an earlier record
            prev = out[rng.randrange(len(out))] if out else None
            if prev is not None:
                u, i = prev['user'], prev['item']
        text = '' if rng.random() < 0.1 else \
            f'{u} on {i}: review {k} ' + ' '.join(
                rng.choice(['good', 'slow', 'fun', 'long', 'dark'])
                for _ in range(rng.randrange(3, 9)))
        rec = {'user': u, 'item': i, 'rating': rating, 'time': time,
               'text': text}
        if rng.random() < 0.02:
            rec['user'] = None if rng.random() < 0.5 else '  '
        elif rng.random() < 0.05:
            rec['user'] = f' {u} '  # padded: the same user
        out.append(rec)
    meta = []
    for k in range(items):
        if k % 7 == 3:
            continue  # an item without metadata
        meta.append({'item': f'I{k:03d}', 'title': f'Title of I{k:03d}',
                     'description': f'About item {k}.',
                     'categories': [['Books', f'Genre{k % 4}'],
                                    ['Books', 'Fiction']]})
    return out, meta


def write_lines(path, records, dump):
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'wt', encoding='utf-8') as f:
        for k, rec in enumerate(records):
            f.write(dump(rec) + '\n')
            if k % 97 == 5:
                f.write('\n')  # blank lines are not records


def date(t, fmt):
    return datetime.datetime.fromtimestamp(
        t, tz=datetime.timezone.utc).strftime(fmt)


def main():
    recs, meta = world(1)
    write_lines(osp.join(HERE, 'amazon2014_reviews.json'), [{
        'reviewerID': r['user'], 'asin': r['item'],
        'overall': float(r['rating']), 'unixReviewTime': r['time'],
        'reviewText': r['text'], 'summary': 'ok', 'helpful': [0, 0]}
        for r in recs], json.dumps)
    write_lines(osp.join(HERE, 'amazon2014_meta.json'), [{
        'asin': m['item'], 'title': m['title'],
        'description': m['description'], 'categories': m['categories'],
        'salesRank': {'Books': 5}} for m in meta], repr)

    recs, meta = world(2)
    write_lines(osp.join(HERE, 'amazon2018_reviews.json.gz'), [{
        'reviewerID': r['user'], 'asin': r['item'],
        'overall': float(r['rating']), 'unixReviewTime': r['time'],
        'reviewText': r['text'], 'verified': True,
        **({'style': {'Format:': 'Paperback'}} if k % 3 else {})}
        for k, r in enumerate(recs)], json.dumps)
    write_lines(osp.join(HERE, 'amazon2018_meta.json'), [{
        'asin': m['item'], 'title': m['title'],
        'description': [m['description'], 'More.'],
        'category': m['categories'][0]} for m in meta], json.dumps)

    recs, meta = world(3)
    write_lines(osp.join(HERE, 'amazon2023_reviews.jsonl'), [{
        'rating': float(r['rating']), 'title': 'ok', 'text': r['text'],
        'asin': 'X' + (r['item'] or ''), 'parent_asin': r['item'],
        'user_id': r['user'], 'timestamp': r['time'] * 1000 + 123}
        for r in recs], json.dumps)
    write_lines(osp.join(HERE, 'amazon2023_meta.jsonl'), [{
        'parent_asin': m['item'], 'title': m['title'],
        'description': [m['description']],
        'categories': m['categories'][0]} for m in meta], json.dumps)

    recs, meta = world(4)
    write_lines(osp.join(HERE, 'yelp_review.json'), [{
        'review_id': f'R{k}', 'user_id': r['user'],
        'business_id': r['item'], 'stars': r['rating'],
        'date': date(r['time'], '%Y-%m-%d %H:%M:%S'), 'text': r['text']}
        for k, r in enumerate(recs)], json.dumps)
    write_lines(osp.join(HERE, 'yelp_business.json'), [{
        'business_id': m['item'], 'name': m['title'],
        'categories': ', '.join(c for c in m['categories'][0])}
        for m in meta], json.dumps)

    recs, meta = world(5)
    write_lines(osp.join(HERE, 'steam_reviews.json'), [{
        'username': r['user'], 'hours': 1.5, 'product_id': r['item'],
        'date': date(r['time'], '%Y-%m-%d'), 'text': r['text']}
        for r in recs], repr)
    write_lines(osp.join(HERE, 'steam_games.json'), [{
        'id': m['item'], 'app_name': m['title'], 'genres': ['Action'],
        'tags': m['categories'][0]} for m in meta], repr)

    recs, meta = world(6)
    with open(osp.join(HERE, 'ratings.csv'), 'w', newline='',
              encoding='utf-8') as f:
        w = csv.writer(f)
        w.writerow(['user', 'item', 'rating', 'timestamp', 'review'])
        for r in recs:
            w.writerow([r['user'] or '', r['item'], r['rating'], r['time'],
                        r['text']])
    with open(osp.join(HERE, 'items.csv'), 'w', newline='',
              encoding='utf-8') as f:
        w = csv.writer(f)
        w.writerow(['item', 'title', 'description', 'categories'])
        for m in meta:
            w.writerow([m['item'], m['title'], m['description'],
                        ','.join(m['categories'][0])])
    import pyarrow as pa
    import pyarrow.parquet as pq
    recs, meta = world(7)
    pq.write_table(pa.table({
        'user': [r['user'] for r in recs], 'item': [r['item'] for r in recs],
        'rating': [float(r['rating']) for r in recs],
        'timestamp': [r['time'] for r in recs],
        'review': [r['text'] for r in recs]}),
        osp.join(HERE, 'ratings.parquet'), row_group_size=100)


if __name__ == '__main__':
    main()
