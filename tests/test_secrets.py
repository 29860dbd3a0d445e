# Keeping API keys out of outputs: the redaction helpers, and the console
# entry points refusing a key on the command line before Hydra saves it
# into the run folder.
import os
import os.path as osp
import subprocess
import sys
from types import SimpleNamespace

import openai
import pytest
from fake_openai_server import FakeOpenAIServer, masked
from run_helpers import RUN_MODULE
from secret_helpers import TAIL, assert_no_key, sentinel

from rlmrec_pyg.profiles.usage import redact as usage_redact
from rlmrec_pyg.secrets import (describe_api_error, redact,
                                refuse_secret_overrides)

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
KEY = sentinel('cli')
PLAIN = sentinel('plain', prefix='tok-')  # Not key-shaped.
HINT = ('put the key in the environment instead (export '
        'OPENAI_API_KEY=...; the configs read it as '
        '${oc.env:OPENAI_API_KEY,null})')


def test_redact():
    # Catches: dropping the key pattern (an unknown sk- key, whole or
    # masked, stays) or its start-of-word condition, dropping the
    # configured secrets or their masked forms, and the re-export in
    # profiles.usage.
    other = sentinel('other')
    text = (f'keys {other} and {masked(other)}, sk-proj-...{other[-4:]}; '
            f'"{other}"; task-1234567')
    assert redact(text) == ('keys sk-*** and sk-***, sk-***; "sk-***"; '
                            'task-1234567')
    text = f'token {PLAIN} or {masked(PLAIN)} or {PLAIN[:4]}...{TAIL}.'
    assert redact(text, [None, PLAIN]) == 'token *** or *** or ***.'
    assert redact('EMPTY or xEMPTYx', ['EMPTY']) == '*** or x***x'
    assert usage_redact is redact


def status_error(status: int, message: str) -> openai.APIStatusError:
    # The SDK's error with a stand-in response (its HTTP library varies).
    response = SimpleNamespace(request=None, status_code=status, headers={})
    return openai.APIStatusError(message, response=response, body=None)


def test_describe_api_error(monkeypatch):
    # Catches: the environment's key not redacted, the message kept on
    # several lines or uncut, the SDK's 'Error code' prefix kept.
    monkeypatch.setenv('OPENAI_API_KEY', PLAIN)
    error = status_error(401, f'Error code: 401 - bad key {PLAIN}\n  see '
                         f'{KEY}')
    assert describe_api_error(error) == 'HTTP 401: bad key *** see sk-***'
    other = sentinel('x', prefix='abc-')
    assert describe_api_error(status_error(403, other), [other]) == \
        'HTTP 403: ***'
    error = openai.APIConnectionError(message=f'{PLAIN} down',
                                      request=None)
    assert describe_api_error(error) == 'APIConnectionError: *** down'
    long = describe_api_error(status_error(500, 'x' * 10**6), max_chars=50)
    assert len(long) == 50 and long.endswith('x...')
    # A plain key cut in two by the first cut (at 4 * max_chars) is gone.
    long = describe_api_error(status_error(500, 'x' * 185 + PLAIN),
                              max_chars=50)
    assert long == 'HTTP 500: ' + 'x' * 37 + '...'


REFUSED = [
    # (argv, the name the sentence gives)
    (['debug=fast', f'semantic.encoder.api_key={PLAIN}'],
     'semantic.encoder.api_key'),
    ([f'+profiles.api_key={PLAIN}'], '+profiles.api_key'),
    (['-m', f'++profiles.api_key={PLAIN},x'], '++profiles.api_key'),
    ([f'profiles.api_key="{PLAIN}"'], 'profiles.api_key'),
    ([f'hydra.job.env_set.OPENAI_API_KEY={PLAIN}'],
     'hydra.job.env_set.OPENAI_API_KEY'),
    ([f'+hf.token={PLAIN}'], '+hf.token'),
    ([f'+db.Password={PLAIN}'], '+db.Password'),
    ([f'+auth.client_secret={PLAIN}'], '+auth.client_secret'),
    ([f'dataset.name={KEY}'], 'dataset.name'),  # Key-shaped value.
    (['-m', f'profiles.base_url=http://h/?k={KEY},x'], 'profiles.base_url'),
    (['--config-name', KEY], '--config-name'),
    ([f'-cn={KEY}'], '-cn'),
]


@pytest.mark.parametrize('argv,name', REFUSED)
def test_refuse_secret_overrides(argv, name):
    # Catches: each secret-name rule (api_key, token at the end, password,
    # secret), the key-shaped-value rule (for overrides and flag values),
    # and a sentence that gives the value away.
    with pytest.raises(SystemExit) as e:
        refuse_secret_overrides(argv)
    message = str(e.value.code)
    assert message.startswith(f"Refusing the command-line argument "
                              f"'{name}': ")
    assert HINT in message and '\n' not in message
    assert_no_key([message], [], [KEY, PLAIN])


ACCEPTED = [
    ['-m', 'debug=fast', 'semantic.encoder.api_key=null'],
    ['profiles.api_key=${oc.env:OTHER,null}'],
    ["profiles.api_key='${oc.env:OTHER}'"],
    ['profiles.api_key=', '+x.token=NULL'],
    ['~profiles.api_key'],
    ['--cfg', 'job', '--resolve'],
    ['-cn', 'train', '-cp', '../conf', '-cd', '/tmp/conf'],
    ['--config-name=vectors', '--multirun', '--info', 'defaults'],
    ['profiles.max_tokens=300', 'profiles.est_completion_tokens=10'],
    ['dataset.name=task-1234567890123456789', 'model=sk-learn'],
    ['hydra.verbose=true', 'hydra/launcher=basic', 'seed=1,2'],
]


@pytest.mark.parametrize('argv', ACCEPTED)
def test_accepted_arguments_pass(argv):
    # Catches: interpolations, null or empty values refused; Hydra's flags
    # taken for overrides; counts named *_tokens refused as tokens; 'sk-'
    # inside a word refused as a key.
    refuse_secret_overrides(argv)


def cli(module, args, tmp_path, **env):
    env = dict(os.environ, RLMREC_OUTPUT_DIR=str(tmp_path / 'out'),
               RLMREC_CACHE_DIR=str(tmp_path / 'cache'), PYTHONPATH=ROOT,
               HF_HUB_OFFLINE='1', OMP_NUM_THREADS='1', **env)
    env.pop('OPENAI_API_KEY', None)
    return subprocess.run([sys.executable, '-m', module] + args,
                          cwd=str(tmp_path), env=env, capture_output=True,
                          text=True, timeout=300)


def hydra_folders(path):
    return [root for root, dirs, _ in os.walk(path) if '.hydra' in dirs]


def test_cli_refuses_a_key_on_the_command_line(tmp_path):
    # Catches: main() not calling refuse_secret_overrides before Hydra
    # (Hydra then fails on the override or runs, after writing .hydra/
    # with the key under the output folder).
    proc = cli(RUN_MODULE,
               ['debug=fast', f'semantic.encoder.api_key={KEY}'], tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1].startswith(
        "Refusing the command-line argument 'semantic.encoder.api_key': it "
        "sets a secret option to a literal value")
    assert HINT in proc.stderr
    assert_no_key([proc.stdout, proc.stderr], [str(tmp_path)], [KEY])
    assert not osp.exists(tmp_path / 'out') and not hydra_folders(tmp_path)


def test_vectors_cli_refuses_a_key(tmp_path, monkeypatch, capsys):
    # The same guard in the other Hydra entry point (in-process: main()
    # refuses before Hydra parses anything).
    from rlmrec_pyg.cli.vectors import main
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('RLMREC_OUTPUT_DIR', str(tmp_path / 'out'))
    monkeypatch.setattr(sys, 'argv', ['rlmrec-vectors', 'dataset=fake',
                                      f'profiles.api_key={KEY}'])
    with pytest.raises(SystemExit) as e:
        main()
    assert str(e.value).startswith("Refusing the command-line argument "
                                   "'profiles.api_key'") and HINT in str(
                                       e.value)
    assert_no_key([str(e.value), *capsys.readouterr()], [str(tmp_path)],
                  [KEY])
    assert not osp.exists(tmp_path / 'out') and not hydra_folders(tmp_path)


def test_cli_accepts_an_interpolated_key(tmp_path):
    # Catches: refusing '${...}' (the run would exit 1 before training);
    # null and empty values: test_accepted_arguments_pass.
    interpolation = 'semantic.encoder.api_key=${oc.env:OTHER,null}'
    with FakeOpenAIServer() as server:
        proc = cli(RUN_MODULE, [
            'debug=fast', 'dataset.with_text=true', 'semantic=openai',
            'alignment=contrastive',
            f'semantic.encoder.base_url={server.url}', interpolation
        ], tmp_path)
        assert any(r['path'] == 'embeddings' for r in server.requests)
    assert proc.returncode == 0, proc.stderr[-3000:]
    folders = hydra_folders(tmp_path / 'out')
    assert len(folders) == 1
    assert osp.isfile(osp.join(folders[0], 'metrics.json'))
    with open(osp.join(folders[0], '.hydra', 'overrides.yaml')) as f:
        assert interpolation in f.read()
