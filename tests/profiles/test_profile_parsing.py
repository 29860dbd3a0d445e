import pytest

from rlmrec_pyg.profiles import ProfileParseError, parse_profile

OBJ = '{"summarization": "Fans of noir.", "reasoning": "Dark themes."}'


@pytest.mark.parametrize('content', [
    OBJ,
    f'```json\n{OBJ}\n```',
    f'```\n{OBJ}\n```',
    f'Here is the JSON you asked for:\n{OBJ}\nHope this helps!',
    f'{{"note": 1}} then {OBJ}',
])
def test_tolerant_parsing(content):
    assert parse_profile(content) == ('Fans of noir.', 'Dark themes.')


def test_missing_reasoning_and_non_string_values():
    assert parse_profile('{"summarization": "x"}') == ('x', '')
    assert parse_profile('{"summarization": ["a", "b"], "reasoning": 3}') \
        == ('["a", "b"]', '3')


@pytest.mark.parametrize('content', [
    None, '', '   ', 'Sure! {"summarization": "unterminated',
    '{"reasoning": "no summary"}', 'plain prose only', '[1, 2]'
])
def test_unparseable(content):
    with pytest.raises(ProfileParseError):
        parse_profile(content)
