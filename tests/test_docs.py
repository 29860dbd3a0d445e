r"""The repository documents its fidelity in ``docs/parity.md`` and nowhere
else: no citation of the private specification is left in the package, the
configs, the tests, the benchmarks, the examples or the README; every
``docs/parity.md#<anchor>`` cited anywhere is a heading of that page
(GitHub's anchor of it); every entry states the paper, the official code,
our default and the option; and its hyperparameter table is the one the
experiment configs set."""
import glob
import os.path as osp
import re
from typing import Dict, Iterator, List, Tuple

import pytest
import yaml

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
PARITY = osp.join(ROOT, 'docs', 'parity.md')
SCANNED = ('rlmrec_pyg', 'conf', 'tests', 'benchmarks', 'examples', 'docs')
SUFFIXES = ('.py', '.yaml', '.yml', '.md', '.txt', '.ipynb', '.sh', '.cfg',
            '.toml')
# Built from pieces so that this file holds none of the strings it bans.
SECTION = '\u00a7'
BANNED = [
    re.compile('spec' + r'\s*' + SECTION, re.I),  # "spec <section sign>"
    # 'spec', a space, 'sec' or 'section', a number.
    re.compile('spec' + r'\s+sec(tion)?\.?\s*\d', re.I),
    re.compile('RLMREC' + '_SPEC', re.I),  # the private file's name
    # The private page's item numbering, e.g. "<section sign>10 #6".
    re.compile(SECTION + r'\s*\d+(\.\d+)*\s*#\s*\d'),
]
# A section sign followed by a number must cite the paper: "paper",
# "RLMRec" or its arXiv id right before it.
SECTION_NUMBER = re.compile(SECTION + r'\s*\d')
PAPER = re.compile(r'paper|RLMRec\b|2310\.15950')
PAPER_WINDOW = 40  # characters before the section sign
CITATION = re.compile(r'docs/parity\.md#([\w-]+)')
FIELDS = ('**Paper**', '**Official**', '**rlmrec_pyg**', '**Option**')


def text_files() -> Iterator[str]:
    yield osp.join(ROOT, 'README.md')
    for top in SCANNED:
        for path in glob.glob(osp.join(ROOT, top, '**', '*'),
                              recursive=True):
            if path.endswith(SUFFIXES) and osp.isfile(path) \
                    and '__pycache__' not in path:
                yield path


def read(path: str) -> str:
    with open(path, encoding='utf-8') as f:
        return f.read()


def line_of(text: str, pos: int) -> int:
    return text.count('\n', 0, pos) + 1


def github_anchor(heading: str) -> str:
    r"""GitHub's anchor of a heading: lower case, punctuation dropped
    (letters, digits, ``-`` and ``_`` kept), spaces turned into ``-``."""
    return re.sub(r'[^\w\- ]', '', heading.strip().lower()).replace(' ', '-')


def headings() -> List[Tuple[int, str, str]]:
    out = []
    for line in read(PARITY).splitlines():
        m = re.match(r'(#{1,6})\s+(.+?)\s*#*\s*$', line)
        if m:
            out.append((len(m.group(1)), m.group(2),
                        github_anchor(m.group(2))))
    return out


def entries() -> Dict[str, str]:
    r"""The text of every ``###`` entry of docs/parity.md by anchor."""
    out: Dict[str, str] = {}
    current = None
    for line in read(PARITY).splitlines():
        m = re.match(r'(#{1,6})\s+(.+)', line)
        if m:
            current = github_anchor(m.group(2)) if len(
                m.group(1)) == 3 else None
            if current is not None:
                out[current] = ''
        elif current is not None:
            out[current] += line + '\n'
    return out


def test_github_anchor():
    # The slug rule itself, on headings whose GitHub anchors are known.
    assert github_anchor('GCCF self-loops') == 'gccf-self-loops'
    assert github_anchor('L2 over all parameters') == 'l2-over-all-parameters'
    assert github_anchor('Parity with the paper: Eq. (7)') == \
        'parity-with-the-paper-eq-7'


def test_no_private_spec_reference():
    # Mutation caught: a docstring citing the private page again (e.g.
    # "spec <section sign>5.1" in gccf.py, "(<section sign>10 #6)" in a
    # config comment).
    found = []
    for path in text_files():
        text = read(path)
        rel = osp.relpath(path, ROOT)
        for pattern in BANNED:
            for m in pattern.finditer(text):
                found.append(f'{rel}:{line_of(text, m.start())}: '
                             f'{m.group(0)!r}')
        for m in SECTION_NUMBER.finditer(text):
            before = text[max(0, m.start() - PAPER_WINDOW):m.start()]
            if not PAPER.search(before):
                found.append(f'{rel}:{line_of(text, m.start())}: a section '
                             f'number that does not cite the paper')
    assert not found, 'Cite docs/parity.md or the paper instead:\n' + \
        '\n'.join(found)


def test_parity_anchors_are_unique():
    # Mutation caught: two entries with the same heading (GitHub would
    # suffix the second one, and a citation would land on the first).
    anchors = [anchor for _, _, anchor in headings()]
    duplicates = sorted({a for a in anchors if anchors.count(a) > 1})
    assert not duplicates, f'Duplicate headings in docs/parity.md: ' \
        f'{duplicates}'


def test_every_cited_anchor_exists():
    # Mutations caught: a renamed heading in docs/parity.md, a citation of
    # an entry that does not exist.
    anchors = {anchor for _, _, anchor in headings()}
    cited: Dict[str, List[str]] = {}
    for path in text_files():
        text = read(path)
        for m in CITATION.finditer(text):
            where = f'{osp.relpath(path, ROOT)}:{line_of(text, m.start())}'
            cited.setdefault(m.group(1), []).append(where)
    page = read(PARITY)
    for m in re.finditer(r'\]\(#([^)]+)\)', page):  # in-page links
        cited.setdefault(m.group(1), []).append(
            f'docs/parity.md:{line_of(page, m.start())}')
    # The code cites the page (far more than this many distinct entries).
    assert len(cited) >= 20
    missing = {a: w for a, w in cited.items() if a not in anchors}
    assert not missing, f'Cited anchors without a heading: {missing}'


def test_every_entry_states_paper_official_ours_option():
    # Mutation caught: an entry whose option (or any other field) is
    # dropped.
    found = entries()
    assert len(found) >= 30
    incomplete = {a: [f for f in FIELDS if f not in text]
                  for a, text in found.items()}
    incomplete = {a: f for a, f in incomplete.items() if f}
    assert not incomplete, f'Entries missing fields: {incomplete}'


def test_readme_links_parity():
    assert '(docs/parity.md)' in read(osp.join(ROOT, 'README.md'))


# docs/parity.md's hyperparameter keys -> (config section, key).
KEYS = {
    'L': ('model', 'num_layers'),
    'loops': ('model', 'self_loops'),
    'drop': ('model', 'edge_drop_rate'),
    '\u03b5': ('model', 'eps'),
    '\u03c4': ('model', 'temperature'),
    'reg': ('trainer.loss_weights', 'reg'),
    'ssl': ('trainer.loss_weights', 'ssl'),
    'align': ('trainer.loss_weights', 'align'),
    '\u03c4_a': ('alignment.module', 'temperature'),
    'mask': ('alignment.module', 'mask_ratio'),
}
VARIANTS = {'Base': 'base', 'Con': 'contrastive', 'Gen': 'generative'}
DATASETS = ('amazon', 'yelp', 'steam')


def table_rows() -> Dict[str, Dict[str, str]]:
    page = read(PARITY)
    section = page[page.index('\n## Hyperparameters\n'):]
    section = section[:section.index('\n## ', 1)]
    out = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if len(cells) != 5 or cells[1] not in VARIANTS:
            continue
        for dataset, cell in zip(DATASETS, cells[2:]):
            name = f'{cells[0].lower()}_{VARIANTS[cells[1]]}_{dataset}'
            out[name] = dict(pair.split('=') for pair in cell.split())
    return out


def config_values(name: str) -> Dict[str, object]:
    cfg = yaml.safe_load(read(osp.join(ROOT, 'conf', 'experiment',
                                       f'{name}.yaml')))
    out = {}
    for short, (section, key) in KEYS.items():
        node = cfg
        for part in section.split('.'):
            node = (node or {}).get(part)
        if node and key in node:
            out[short] = node[key]
    return out


def parse(value: str) -> object:
    if value in ('true', 'false'):
        return value == 'true'
    return float(value)


def test_hyperparameter_table_matches_experiment_configs():
    # Mutation caught: a config value changed (e.g. Steam SGL back to 2
    # layers) or a row edited without the config.
    rows = table_rows()
    experiments = {
        osp.basename(p)[:-len('.yaml')]
        for p in glob.glob(osp.join(ROOT, 'conf', 'experiment', '*.yaml'))
        if re.fullmatch(r'(lightgcn|gccf|sgl|simgcl|dccf|autocf)_(base|'
                        r'contrastive|generative)_(amazon|yelp|steam)\.yaml',
                        osp.basename(p))
    }
    assert len(experiments) == 54
    assert set(rows) == experiments
    for name, row in sorted(rows.items()):
        assert set(row) <= set(KEYS), (name, row)
        expected = config_values(name)
        got = {k: parse(v) for k, v in row.items()}
        assert set(got) == set(expected), (name, got, expected)
        for key, value in expected.items():
            if isinstance(value, bool):
                assert got[key] is value, (name, key)
            else:
                assert got[key] == pytest.approx(value), (name, key)
