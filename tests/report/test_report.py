r"""Tables and figures of a multirun: statistics against a naive
reference, the markdown table, the optional figure."""
import json
import math
import os.path as osp
import sys

import pytest

from rlmrec_pyg.report import report


def test_report_values(tmp_path):
    # Naive reference: mean and sample std over seeds, improvement over the
    # base with the same other overrides.
    values = {('none', '0.0'): [0.10, 0.12], ('contrastive', '0.0'):
              [0.13, 0.11, 0.15], ('none', '0.2'): [0.08, 0.08],
              ('contrastive', '0.2'): [0.09, 0.10], ('none', '0.1'): [0.09]}
    num = 0
    for (alignment, noise), recalls in values.items():
        for seed, recall in enumerate(recalls):
            run_dir = tmp_path / str(num)
            (run_dir / '.hydra').mkdir(parents=True)
            (run_dir / '.hydra' / 'overrides.yaml').write_text(
                f'- alignment={alignment}\n- noise_ratio={noise}\n'
                f'- seed={seed}\n')
            metrics = {'recall@20': recall, 'ndcg@20': recall / 2}
            (run_dir / 'metrics.json').write_text(json.dumps(dict(
                val=metrics, test=metrics, seconds=6.0, last_epoch=2)))
            num += 1
    (tmp_path / 'pretrain').mkdir()  # not a run: no .hydra folder
    paths = report(str(tmp_path), str(tmp_path / 'out'))
    with open(paths['summary']) as f:
        rows = {(r['setting']['alignment'], r['setting']['noise_ratio']): r
                for r in json.load(f)}
    for key, recalls in values.items():
        mean = sum(recalls) / len(recalls)
        var = (sum((r - mean)**2 for r in recalls) / (len(recalls) - 1)
               if len(recalls) > 1 else 0.0)
        assert rows[key]['n'] == len(recalls)
        assert math.isclose(rows[key]['mean']['recall@20'], mean)
        assert math.isclose(rows[key]['std']['recall@20'], math.sqrt(var))
        assert math.isclose(rows[key]['mean']['s/epoch'], 2.0)
    imprv = rows['contrastive', '0.2']['imprv']['recall@20']
    assert math.isclose(imprv, 100 * (0.095 / 0.08 - 1))
    assert rows['none', '0.0']['imprv'] is None
    with open(paths['markdown']) as f:
        table = f.read()
    assert '| alignment=contrastive noise_ratio=0.0 | 3 | 0.1300 ± 0.0200 ' \
        '(+18.18 %) |' in table
    assert osp.getsize(paths['figure']) > 1000  # noise_ratio on the x-axis
    with pytest.raises(ValueError, match="No run with a 'metrics.json'"):
        report(str(tmp_path / 'pretrain'))


def test_report_without_matplotlib(tmp_path, monkeypatch):
    run_dir = tmp_path / '0'
    (run_dir / '.hydra').mkdir(parents=True)
    (run_dir / '.hydra' / 'overrides.yaml').write_text('- seed=1\n')
    (run_dir / 'metrics.json').write_text(json.dumps(
        dict(test={'recall@20': 0.1})))
    monkeypatch.setitem(sys.modules, 'matplotlib', None)
    paths = report(str(tmp_path))
    assert 'figure' not in paths and not osp.exists(tmp_path / 'report.png')
    with open(paths['markdown']) as f:
        assert '| (defaults) | 1 | 0.1000 ± 0.0000 |' in f.read()
    with pytest.raises(ValueError, match="'split' must be 'test' or 'val'"):
        report(str(tmp_path), split='train')


def test_an_experiment_sweep_compares_each_backbone_with_its_base(tmp_path):
    # A Table 1 sweep selects model, dataset and alignment through
    # experiment files: each aligned row is compared with the base of its
    # own backbone and dataset (from Hydra's runtime choices).
    recall = {('lightgcn', 'amazon', 'null'): 0.10,
              ('lightgcn', 'amazon', 'contrastive'): 0.11,
              ('gccf', 'amazon', 'null'): 0.05,
              ('gccf', 'amazon', 'generative'): 0.06,
              ('gccf', 'yelp', 'null'): 0.20,
              ('gccf', 'yelp', 'contrastive'): 0.21}
    for num, ((model, dataset, alignment), value) in enumerate(
            recall.items()):
        run_dir = tmp_path / str(num)
        (run_dir / '.hydra').mkdir(parents=True)
        name = {'null': 'base'}.get(alignment, alignment)
        (run_dir / '.hydra' / 'overrides.yaml').write_text(
            f'- experiment={model}_{name}_{dataset}\n- seed=1\n')
        (run_dir / '.hydra' / 'hydra.yaml').write_text(
            'hydra:\n  runtime:\n    choices:\n'
            f'      model: {model}\n      dataset: {dataset}\n'
            f'      alignment: {"null" if alignment == "null" else alignment}'
            '\n')
        (run_dir / 'metrics.json').write_text(json.dumps(dict(
            test={'recall@20': value})))
    paths = report(str(tmp_path))
    with open(paths['summary']) as f:
        rows = {r['setting']['experiment']: r for r in json.load(f)}
    for name, base, value, base_value in (
            ('lightgcn_contrastive_amazon', 'lightgcn_base_amazon', 0.11,
             0.10), ('gccf_generative_amazon', 'gccf_base_amazon', 0.06,
                     0.05), ('gccf_contrastive_yelp', 'gccf_base_yelp', 0.21,
                             0.20)):
        assert math.isclose(rows[name]['imprv']['recall@20'],
                            100 * (value / base_value - 1)), name
        assert rows[base]['imprv'] is None
