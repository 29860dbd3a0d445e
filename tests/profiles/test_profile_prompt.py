import json
import re

import pytest
import torch
from profile_helpers import review_data

from rlmrec_pyg.profiles import (DOMAINS, attach_reviews, build_item_prompts,
                                 build_user_prompts, load_system_prompt)
from rlmrec_pyg.testing import get_random_rec_data
from rlmrec_pyg.typing import EDGE, ITEM, USER, VAL_INDEX


@pytest.mark.parametrize('domain', list(DOMAINS))
@pytest.mark.parametrize('node_type', [USER, ITEM])
def test_system_prompts(domain, node_type):
    text = load_system_prompt(domain, node_type)
    assert '"summarization"' in text and '"reasoning"' in text
    assert '"None"' in text and 'outside the JSON' in text
    limit = '100 words' if node_type == USER else '200 words'
    assert limit in text


def test_dataset_aliases_and_errors():
    assert load_system_prompt('amazon', ITEM) == load_system_prompt(
        'book', ITEM)
    with pytest.raises(ValueError, match="Unknown domain 'imdb'"):
        load_system_prompt('imdb', ITEM)
    with pytest.raises(ValueError, match="'node_type' must be"):
        load_system_prompt('movie', 'shop')


def test_item_prompt_format_and_sampling():
    data = review_data()
    prompts = build_item_prompts(data, 'movie')
    assert len(prompts) == data[ITEM].num_nodes
    head, info, feedback_head, *rest = prompts[0].split('\n')
    assert head == 'BASIC INFORMATION: ' and feedback_head == 'USER FEEDBACK: '
    info = json.loads(info)
    # Missing fields become "None" (paper Appendix A.2); the fake data has
    # no year.
    assert info == {'title': 'Item 0', 'year': 'None', 'genres': 'Drama'}
    for i, prompt in enumerate(prompts):
        reviews = re.findall(r'TRAINREV-u\d+-i(\d+)( word)*', prompt)
        num_reviews = len(data[ITEM].reviews[i])
        assert len(reviews) == min(6, num_reviews)
        assert all(int(r[0]) == i for r in reviews)
        for line in prompt.split('\n')[4:-1]:
            assert len(json.loads(line).split(' ')) == 200  # Truncated.
    assert build_item_prompts(data, 'movie') == prompts  # Deterministic.
    assert build_item_prompts(data, 'movie', seed=1) != prompts


def test_book_items_have_no_feedback():
    data = review_data()
    prompt = build_item_prompts(data, 'amazon')[3]
    assert 'USER FEEDBACK' not in prompt and 'TRAINREV' not in prompt
    assert json.loads(prompt.split('\n')[1]) == {
        'title': 'Item 3',
        'description': 'A sci-fi story number 3.'
    }


def test_no_val_or_test_review_reaches_a_prompt():
    data = review_data()
    item_prompts = build_item_prompts(data, 'movie', num_reviews=None)
    user_prompts = build_user_prompts(data, 'movie', ['p'] * 30,
                                      num_reviews=None)
    text = '\n'.join(item_prompts + user_prompts)
    assert 'TRAINREV' in text
    assert 'VALREV' not in text and 'TESTREV' not in text


def test_user_prompts_use_training_items_only():
    data = review_data()
    profiles = [f'PROFILE-OF-{i}|' for i in range(data[ITEM].num_nodes)]
    prompts = build_user_prompts(data, 'movie', profiles)
    train = [set() for _ in range(data[USER].num_nodes)]
    for u, i in data[EDGE].edge_index.t().tolist():
        train[u].add(i)
    for u, prompt in enumerate(prompts):
        assert prompt.startswith('WATCHED MOVIES: \n[\n')
        items = [int(i) for i in re.findall(r'PROFILE-OF-(\d+)\|', prompt)]
        assert len(items) == min(6, len(train[u])) == len(set(items))
        assert set(items) <= train[u]
        own = re.findall(r'TRAINREV-u(\d+)-', prompt)
        assert own and all(int(v) == u for v in own)
    with pytest.raises(ValueError, match='one item profile per item'):
        build_user_prompts(data, 'movie', profiles[:-1])


def test_attach_reviews_keeps_training_pairs_only():
    data = get_random_rec_data(num_users=4, num_items=5)
    train = data[EDGE].edge_index[:, :1]
    held_out = data[EDGE][VAL_INDEX][:, :1]
    attach_reviews(data, torch.cat([train, held_out], 1), ['kept', 'gone'])
    u, i = train[:, 0].tolist()
    assert data[USER].reviews[u] == ['kept']
    assert data[ITEM].reviews[i] == ['kept']
    assert 'gone' not in str(data[USER].reviews + data[ITEM].reviews)
    with pytest.raises(ValueError, match=r"shape \[2, 1\]"):
        attach_reviews(data, train.repeat(1, 2), ['one'])
