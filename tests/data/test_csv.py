import codecs
import csv
import logging

import pytest
import torch

from rlmrec_pyg.data import InteractionCSV, interactions_to_data
from rlmrec_pyg.data.interactions import k_core_mask, split_per_user
from rlmrec_pyg.typing import EDGE, ITEM, TEST_INDEX, USER, VAL_INDEX


def _write(path, rows, header):
    path.write_text('\n'.join([','.join(header)] +
                              [','.join(map(str, r)) for r in rows]) + '\n')


def test_csv_with_string_ids_and_text(tmp_path):
    rows = [(f'u{u}', f'item-{(u * 7 + k) % 11}', 1 + (u + k) % 5, 100 + k)
            for u in range(12) for k in range(6)]
    _write(tmp_path / 'ratings.csv', rows, ['user', 'item', 'rating', 'ts'])
    _write(tmp_path / 'items.csv', [(f'item-{i}', f'Title {i}')
                                    for i in range(11)], ['item', 'title'])
    ds = InteractionCSV(str(tmp_path / 'root'), str(tmp_path / 'ratings.csv'),
                        rating_col='rating', time_col='ts', min_rating=3,
                        item_text=str(tmp_path / 'items.csv'), seed=1)
    data = ds[0]
    kept = {(u, i) for u, i, r, _ in rows if r >= 3}
    users, items = data[USER].raw_id, data[ITEM].raw_id
    got = {(users[u], items[i])
           for k in ('edge_index', VAL_INDEX, TEST_INDEX)
           for u, i in data[EDGE][k].t().tolist()}
    assert got == kept  # mapping kept, rating filter applied
    assert data[ITEM].title == [f'Title {i[5:]}' for i in items]
    assert data[EDGE].time.numel() == data[EDGE].edge_index.size(1)


def test_csv_errors(tmp_path):
    _write(tmp_path / 'r.csv', [('a', 'x')], ['user', 'item'])
    with pytest.raises(ValueError, match="Column 'rating' not found"):
        InteractionCSV(str(tmp_path / 'root'), str(tmp_path / 'r.csv'),
                       rating_col='rating')
    with pytest.raises(ValueError, match="file '.*missing.csv' does not"):
        InteractionCSV(str(tmp_path / 'root'), str(tmp_path / 'missing.csv'))
    with pytest.raises(TypeError, match='CSV path or a pandas.DataFrame'):
        InteractionCSV(str(tmp_path / 'root'), 42)


def test_k_core_is_iterative():
    # Item 2 has one interaction; removing it drops user 1 below k = 2.
    user = torch.tensor([0, 0, 1, 1, 2, 2])
    item = torch.tensor([0, 1, 0, 2, 0, 1])
    keep = k_core_mask(user, item, 2)
    assert keep.tolist() == [True, True, False, False, True, True]


def test_split_per_user_keeps_a_train_item():
    user = torch.tensor([0] * 5 + [1] * 2 + [2])
    split = split_per_user(user, (3, 1, 1), seed=0)
    for u in range(3):
        assert (split[user == u] == 0).sum() >= 1
    assert (split[user == 0] == 1).sum() == 1
    assert (split[user == 0] == 2).sum() == 1
    assert torch.equal(split, split_per_user(user, (3, 1, 1), seed=0))


def test_filters_can_remove_everything():
    with pytest.raises(ValueError, match='No interaction survives'):
        interactions_to_data(['a', 'b'], ['x', 'y'], k_core=3)


# Inputs that fail gracefully. Next to each test: the mutation of
# rlmrec_pyg/data/csv.py that it catches (each one tried once).

def _file(path, text, lead=b''):
    path.write_bytes(lead + text.encode())
    return str(path)


def _dataset(tmp_path, text, lead=b'', **kwargs):
    path = _file(tmp_path / 'r.csv', text, lead)
    return InteractionCSV(str(tmp_path / 'root'), path, **kwargs)


def test_csv_byte_order_mark_is_accepted(tmp_path):
    # Catches: decoding with 'utf-8' instead of 'utf-8-sig'.
    data = _dataset(tmp_path, 'user,item\nu1,a\nu2,a\nu2,b\n',
                    lead=codecs.BOM_UTF8)[0]
    assert data[USER].raw_id == ['u1', 'u2']
    assert data[ITEM].raw_id == ['a', 'b']
    assert data[USER].num_nodes == 2 and data[ITEM].num_nodes == 2


@pytest.mark.parametrize('lead', [b'', codecs.BOM_UTF8])
@pytest.mark.parametrize('rows', [0, 2000])
def test_csv_not_utf8_names_byte_and_line(tmp_path, lead, rows):
    # rows=0: the bad byte is in the first block, read in __init__;
    # rows=2000: it is far beyond it, read in process().
    # Catches: the byte-order-mark offset correction dropped (lead=BOM),
    # the line count off by one, the UnicodeDecodeError let through.
    body = 'user,item\n' + 'u1,a\n' * rows + 'u2,caf'
    path = tmp_path / 'r.csv'
    path.write_bytes(lead + body.encode() + b'\xe9\n')
    offset = len(lead) + len(body)  # counted by hand: the byte after 'caf'
    with pytest.raises(ValueError) as e:
        InteractionCSV(str(tmp_path / 'root'), str(path))
    assert str(e.value) == (
        f"'interactions' file '{path}' is not UTF-8 text: byte {offset} "
        f"(line {rows + 2}) is b'\\xe9' (invalid continuation byte); save "
        f"it as UTF-8 (in a spreadsheet: 'CSV UTF-8')")


@pytest.mark.parametrize('mode,users', [
    ('strip', ['u1', 'u2']),
    ('none', [' u1', 'u1', 'u2', 'u2 ']),
])
def test_id_normalization_strip_and_none(tmp_path, mode, users):
    # Catches: 'strip' not stripping; 'none' stripping anyway.
    text = 'user,item\n u1,a\nu1,b\nu2 ,a\nu2,b\n'
    data = _dataset(tmp_path, text, id_normalization=mode)[0]
    assert data[USER].raw_id == users
    assert data[ITEM].raw_id == ['a', 'b']


def test_id_normalization_numeric(tmp_path):
    # Catches: 'numeric' comparing strings (then 007 != 7, 010 != 10).
    text = 'user,item\n007,10\n7,20\n 8,010\n8,20\n10,20\n'
    data = _dataset(tmp_path, text, id_normalization='numeric')[0]
    assert data[USER].raw_id == ['7', '8', '10']  # sorted as integers
    assert data[ITEM].raw_id == ['10', '20']


def test_strip_warns_about_ids_equal_as_integers(tmp_path, caplog):
    # Catches: the warning removed, or logged for every pair (the users
    # hold two pairs, '007'/'7' and '08'/'8').
    text = 'user,item\n007,10\n7,20\n 8,010\n08,20\n'
    with caplog.at_level(logging.WARNING, logger='rlmrec_pyg.data.csv'):
        data = _dataset(tmp_path, text)[0]
    assert data[USER].raw_id == ['007', '08', '7', '8']
    assert data[ITEM].raw_id == ['010', '10', '20']
    assert [r.getMessage() for r in caplog.records] == [
        f"The {kind} ids '{a}' and '{b}' (column '{kind}') are equal as "
        f"integers but kept as two {kind}s (id_normalization='strip'); pass "
        f"id_normalization='numeric' to read ids as integers"
        for kind, a, b in (('user', '007', '7'), ('item', '010', '10'))]


def test_text_table_ids_are_normalised_like_interactions(tmp_path):
    # Catches: the text table's id column read without the normalisation
    # (its '007' and ' 8' rows would then match no item).
    ratings = _file(tmp_path / 'r.csv', 'user,item\n1,7\n1,8\n2,8\n')
    items = _file(tmp_path / 'i.csv', 'item,title\n007,Seven\n 8,Eight\n')
    data = InteractionCSV(str(tmp_path / 'root'), ratings, item_text=items,
                          id_normalization='numeric')[0]
    assert data[ITEM].raw_id == ['7', '8']
    assert data[ITEM].title == ['Seven', 'Eight']


def test_text_table_id_twice_is_an_error(tmp_path):
    # Catches: the duplicate check dropped (the last row silently wins).
    ratings = _file(tmp_path / 'r.csv', 'user,item\nu1,a\n')
    items = _file(tmp_path / 'i.csv', 'item,title\na,One\nb,Two\n a,Three\n')
    with pytest.raises(ValueError) as e:
        InteractionCSV(str(tmp_path / 'root'), ratings, item_text=items)
    assert str(e.value) == (
        f"'item_text' file '{items}', column 'item': row 2 and row 4 hold "
        f"the same id 'a'; keep one row per id")


@pytest.mark.parametrize('mode,cell,tail', [
    ('strip', '  ', "expected a non-empty id, got '  ' (empty after "
                    "id_normalization='strip')"),
    ('none', '', "expected a non-empty id, got ''"),
    ('numeric', 'x1', "expected an integer id (as "
                      "id_normalization='numeric'), got 'x1'"),
    ('numeric', '1.0', "expected an integer id (as "
                       "id_normalization='numeric'), got '1.0'"),
    ('numeric', '1_0', "expected an integer id (as "
                       "id_normalization='numeric'), got '1_0'"),
    ('numeric', '\u0661', "expected an integer id (as "
                          "id_normalization='numeric'), got '\u0661'"),
])
def test_bad_id_names_file_row_column(tmp_path, mode, cell, tail):
    # Catches: the empty-id check dropped (strip/none); int() or a
    # Unicode digit class instead of ASCII digits (numeric would accept
    # '1_0' as 10 and the Arabic-Indic digit one as 1).
    path = _file(tmp_path / 'r.csv', f'user,item\n1,2\n3,{cell}\n')
    with pytest.raises(ValueError) as e:
        InteractionCSV(str(tmp_path / 'root'), path, id_normalization=mode)
    assert str(e.value) == f"'interactions' file '{path}', row 3, column " \
                           f"'item': {tail}"


@pytest.mark.parametrize('row,cells', [('u2,b', 2), ('u2,b,4,5', 4)])
def test_ragged_row_names_file_and_row(tmp_path, row, cells):
    # The blank line is row 3, as a spreadsheet shows it.
    # Catches: blank lines not counted, the length check dropped (numpy
    # error) or extra cells ignored.
    path = _file(tmp_path / 'r.csv', f'user,item,rating\nu1,a,5\n\n{row}\n')
    with pytest.raises(ValueError) as e:
        InteractionCSV(str(tmp_path / 'root'), path, rating_col='rating')
    assert str(e.value) == (f"'interactions' file '{path}': row 4 has "
                            f"{cells} cells, the header has 3")


@pytest.mark.parametrize('cell,tail', [
    ('', "expected a number (the rating), got an empty cell"),
    ('five', "expected a number (the rating), got 'five'"),
    ('nan', "expected a finite rating, got 'nan'"),
    ('-inf', "expected a finite rating, got '-inf'"),
])
def test_bad_rating_names_file_row_column(tmp_path, cell, tail):
    # Catches: the finite check dropped (NaN kept as an interaction), the
    # per-cell diagnosis replaced by numpy's bare error.
    path = _file(tmp_path / 'r.csv',
                 f'user,item,rating\nu1,a,4\nu1,b,{cell}\n')
    with pytest.raises(ValueError) as e:
        InteractionCSV(str(tmp_path / 'root'), path, rating_col='rating',
                       min_rating=3)
    assert str(e.value) == f"'interactions' file '{path}', row 3, column " \
                           f"'rating': {tail}"


def test_negative_rating_needs_min_rating(tmp_path):
    # Catches: the negative check dropped, or applied with min_rating set.
    text = 'user,item,rating\nu1,a,4\nu1,b,-1\nu2,a,-2\nu2,b,0\n'
    path = _file(tmp_path / 'r.csv', text)
    with pytest.raises(ValueError) as e:
        InteractionCSV(str(tmp_path / 'root'), path, rating_col='rating')
    assert str(e.value) == (
        f"'interactions' file '{path}', row 3, column 'rating': the rating "
        f"'-1' is negative (2 row(s) are) and would count as a positive "
        f"interaction, as 'min_rating' is None; set 'min_rating' (e.g., "
        f"min_rating=0) to drop low ratings")
    data = InteractionCSV(str(tmp_path / 'root'), path, rating_col='rating',
                          min_rating=0)[0]
    edges = {(data[USER].raw_id[u], data[ITEM].raw_id[i])
             for k in ('edge_index', VAL_INDEX, TEST_INDEX)
             for u, i in data[EDGE][k].t().tolist()}
    assert edges == {('u1', 'a'), ('u2', 'b')}


@pytest.mark.parametrize('cell,got', [
    ('1.5', "'1.5'"),
    ('', 'an empty cell'),
    ('soon', "'soon'"),
    ('9223372036854775808', "'9223372036854775808'"),  # 2**63
])
def test_bad_timestamp_names_file_row_column(tmp_path, cell, got):
    # Catches: int(float(v)) truncating 1.5, the int64 range check dropped.
    path = _file(tmp_path / 'r.csv', f'user,item,ts\nu1,a,10\nu1,b,{cell}\n')
    with pytest.raises(ValueError) as e:
        InteractionCSV(str(tmp_path / 'root'), path, time_col='ts')
    assert str(e.value) == (
        f"'interactions' file '{path}', row 3, column 'ts': expected an "
        f"integer (64-bit) timestamp, got {got}")


def test_integral_decimal_timestamp_is_accepted(tmp_path):
    # Catches: '100.0' (a pandas float column written out) refused.
    data = _dataset(tmp_path, 'user,item,ts\nu1,a,100.0\n', time_col='ts')[0]
    assert data[EDGE].time.tolist() == [100]


class _Series:
    def __init__(self, values):
        self.values = values

    def tolist(self):
        return list(self.values)

    def isna(self):
        return _Series([v is None or v != v for v in self.values])


class _DataFrame:
    r"""The part of :class:`pandas.DataFrame` that :class:`InteractionCSV`
    reads (pandas is not a dependency of the tests)."""
    def __init__(self, data, index):
        self.data, self.columns, self.index = data, list(data), index

    def __getitem__(self, key):
        return _Series(self.data[key])

    def to_dict(self):
        return dict(self.data)


@pytest.mark.parametrize('col,tail', [
    ('user', "expected a non-empty id, got ''"),
    ('rating', 'expected a number (the rating), got an empty cell'),
])
def test_dataframe_nan_cell_names_row_and_index(tmp_path, col, tail):
    # Catches: NaN cells turned into the string 'nan' (a user 'nan', a
    # NaN rating kept), the index label left out.
    data = {'user': [1, 2, 3], 'item': ['a', 'b', 'c'],
            'rating': [4.0, 5.0, 3.0]}
    data[col][1] = float('nan')
    frame = _DataFrame(data, index=[10, 11, 12])
    with pytest.raises(ValueError) as e:
        InteractionCSV(str(tmp_path / 'root'), frame, rating_col='rating')
    assert str(e.value) == (f"DataFrame 'interactions', row 3 (index 11), "
                            f"column '{col}': {tail}")


def test_dataframe_numeric_ids(tmp_path):
    # Catches: DataFrame cells not read as their text (str of the value).
    frame = _DataFrame({'user': [7, 7, 8], 'item': ['07', '8', '7']},
                       index=[0, 1, 2])
    data = InteractionCSV(str(tmp_path / 'root'), frame,
                          id_normalization='numeric')[0]
    assert data[USER].raw_id == ['7', '8']
    assert data[ITEM].raw_id == ['7', '8']


@pytest.mark.parametrize('kwargs,message', [
    (dict(id_normalization='lower'), "'id_normalization' must be one of "
     "'strip', 'none', 'numeric' (got 'lower')"),
    (dict(ratios=(3, 1)), "'ratios' must be three finite, non-negative "
     "train/val/test weights with a positive train weight (got (3, 1))"),
    (dict(ratios=(0, 1, 1)), "'ratios' must be three finite, non-negative "
     "train/val/test weights with a positive train weight (got (0, 1, 1))"),
    (dict(ratios=(3, -1, 1)), "'ratios' must be three finite, non-negative "
     "train/val/test weights with a positive train weight (got (3, -1, 1))"),
    (dict(ratios=(3, float('nan'), 1)), "'ratios' must be three finite, "
     "non-negative train/val/test weights with a positive train weight "
     "(got (3, nan, 1))"),
    (dict(ratios='311'), "'ratios' must be three finite, non-negative "
     "train/val/test weights with a positive train weight (got '311')"),
    (dict(k_core=-1), "'k_core' must be an integer >= 0 (got -1)"),
    (dict(k_core=2.5), "'k_core' must be an integer >= 0 (got 2.5)"),
    (dict(k_core=True), "'k_core' must be an integer >= 0 (got True)"),
    (dict(rating_col='rating', min_rating=float('inf')),
     "'min_rating' must be a finite number or None (got inf)"),
    (dict(rating_col='rating', min_rating='3'),
     "'min_rating' must be a finite number or None (got '3')"),
    (dict(min_rating=3), "'min_rating' (3) needs 'rating_col', the column "
     "of the ratings"),
    (dict(seed=1.5), "'seed' must be an integer (got 1.5)"),
    (dict(seed='0'), "'seed' must be an integer (got '0')"),
    (dict(user_col=''), "'user_col' must be a column name (got '')"),
    (dict(time_col=3), "'time_col' must be a column name or None (got 3)"),
    (dict(item_col='user'), "'user_col' and 'item_col' must name two "
     "columns (both are 'user')"),
    (dict(user_col='uid'), "Column 'uid' not found in 'interactions' file "
     "'{path}' (columns: ['user', 'item', 'rating'])"),
    (dict(time_col='ts'), "Column 'ts' not found in 'interactions' file "
     "'{path}' (columns: ['user', 'item', 'rating'])"),
    (dict(item_text='{items}'), "Column 'item' not found in 'item_text' file "
     "'{items}' (columns: ['id', 'title'])"),
    (dict(user_text='{tmp}/none.csv'), "'user_text' file '{tmp}/none.csv' "
     "does not exist"),
])
def test_bad_argument_fails_before_the_root_folder(tmp_path, kwargs,
                                                   message):
    # Catches: a check dropped or moved after super().__init__ (then the
    # root folder exists, or processing fails later with another message).
    path = _file(tmp_path / 'r.csv', 'user,item,rating\nu1,a,4\n')
    items = _file(tmp_path / 'i.csv', 'id,title\na,A\n')
    names = dict(path=path, items=items, tmp=tmp_path)
    kwargs = {k: v.format(**names) if isinstance(v, str) else v
              for k, v in kwargs.items()}
    with pytest.raises(ValueError) as e:
        InteractionCSV(str(tmp_path / 'root'), path, **kwargs)
    assert str(e.value) == message.format(**names)
    assert not (tmp_path / 'root').exists()


def test_header_with_a_column_twice(tmp_path):
    # Catches: the duplicate-header check dropped (the last column wins).
    path = _file(tmp_path / 'r.csv', 'user,item,user\nu1,a,u2\n')
    with pytest.raises(ValueError) as e:
        InteractionCSV(str(tmp_path / 'root'), path)
    assert str(e.value) == (f"'interactions' file '{path}' names the "
                            f"column 'user' twice (columns 1 and 3); column "
                            f"names must be unique")
    assert not (tmp_path / 'root').exists()


def test_unparsable_csv_names_file_and_line(tmp_path):
    # Catches: the csv.Error let through (it names no file).
    ratings = _file(tmp_path / 'r.csv', 'user,item\nu1,a\n')
    items = _file(tmp_path / 'i.csv', 'item,title\na,A\nb,' + 'x' * 140000)
    with pytest.raises(ValueError) as e:
        InteractionCSV(str(tmp_path / 'root'), ratings, item_text=items)
    assert str(e.value) == (
        f"'item_text' file '{items}': could not parse line 3 as CSV (field "
        f"larger than field limit ({csv.field_size_limit()}))")
