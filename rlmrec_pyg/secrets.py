r"""Keeping secrets (API keys) out of everything the package writes:
errors, logs, saved files and the run folders Hydra creates.

An OpenAI-compatible server may echo the key it was sent (whole, or masked
as ``sk-abc***wxyz``) in its error messages, and Hydra saves every
command-line override into the run folder before the task starts. So SDK
errors are turned into one redacted line (:func:`describe_api_error`),
and a key given on the command line is refused before Hydra runs
(:func:`refuse_secret_overrides`); the configs read the key from the
environment instead (``${oc.env:OPENAI_API_KEY,null}``)."""
import os
import re
from typing import List, Optional, Sequence

#: The environment variable the configs and the OpenAI SDK read the key
#: from.
ENV_KEY = 'OPENAI_API_KEY'

#: Anything shaped like an OpenAI key, whole or masked (``sk-abc***wxyz``,
#: ``sk-proj-...wxyz``), at the start of a word (not in ``task-1234``).
KEY_PATTERN = re.compile(r'(?<![A-Za-z0-9])sk-[A-Za-z0-9_\-\*\.]{4,}')

#: What a value must look like to be refused on the command line as an
#: OpenAI key: ``sk-`` at the start of a word and at least 16 more
#: characters (so that *e.g.* ``task-1`` or ``sk-learn`` pass).
_KEY_VALUE = re.compile(r'(?<![A-Za-z0-9])sk-[A-Za-z0-9_\-]{16,}')

#: Option names that hold a secret (the last component of an override's
#: key, case-insensitive); ``token`` only at the end, so that counts such
#: as ``max_tokens`` pass.
_SECRET_NAME = re.compile(r'api[_\-]?key|secret|passw(or)?d|token$',
                          re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    r"""Whether an option named :obj:`name` holds a secret (an API key, a
    token, a password)."""
    return bool(_SECRET_NAME.search(name))


#: The SDK's prefix of an HTTP error's message (the status, said again).
_SDK_PREFIX = re.compile(r'^Error code: \d+ - ')

#: Characters servers mask keys with.
_MASK = '*.\u2022\u2026'

#: Hydra's command-line flags that take a value (the next argument unless
#: written as ``--flag=value``).
_VALUE_FLAGS = frozenset({
    '-c', '--cfg', '-p', '--package', '-cp', '--config-path', '-cn',
    '--config-name', '-cd', '--config-dir', '--experimental-rerun', '-i',
    '--info'
})


def _masked(secret: str) -> 're.Pattern[str]':
    # A masked echo of :obj:`secret`: a word with a run of mask characters
    # that ends with the secret's last four characters.
    return re.compile(rf'[^\s\'"]*[{_MASK}]{{3,}}[^\s\'"]*?'
                      rf'{re.escape(secret[-4:])}')


def redact(text: str, secrets: Sequence[Optional[str]] = ()) -> str:
    r"""Removes :obj:`secrets` (whole, or masked as servers echo them:
    a run of ``*`` followed by their last four characters) and anything
    shaped like an OpenAI key (``sk-...``, also masked) from :obj:`text`.

    Args:
        text (str): The text to clean.
        secrets (List[str], optional): Keys to remove besides the
            key-shaped ones; :obj:`None` entries are skipped.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, '***')
            if len(secret) >= 8:
                text = _masked(secret).sub('***', text)
    return KEY_PATTERN.sub('sk-***', text)


def describe_api_error(error: BaseException,
                       secrets: Sequence[Optional[str]] = (),
                       max_chars: int = 500) -> str:
    r"""Returns a one-line description of an OpenAI SDK error (its HTTP
    status and message, or its type and message), without the API key:
    neither :obj:`secrets`, nor ``OPENAI_API_KEY``, nor anything shaped
    like a key, whole or masked.

    Args:
        error (Exception): The error, usually an :class:`openai.APIError`.
        secrets (List[str], optional): The configured key(s).
        max_chars (int, optional): Longest description; longer messages
            (*e.g.*, an HTML error page) are cut. (default: :obj:`500`)
    """
    status = getattr(error, 'status_code', None)
    message = getattr(error, 'message', None) or str(error)
    message = _SDK_PREFIX.sub('', message)
    head = type(error).__name__ if status is None else f'HTTP {status}'
    # Redacted before the final cut (which drops any key the first cut
    # split), on a bounded text (a huge page would be slow to search).
    text = ' '.join(f'{head}: {message}'[:4 * max_chars].split())
    text = redact(text, [*secrets, os.environ.get(ENV_KEY)])
    return text if len(text) <= max_chars else text[:max_chars - 3] + '...'


def _is_literal(value: str) -> bool:
    # Anything but null, empty or a `${...}` interpolation.
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in '\'"':
        value = value[1:-1].strip()
    if value.lower() in ('', 'null'):
        return False
    return not (value.startswith('${') and value.endswith('}'))


def _refusal(name: str, why: str) -> SystemExit:
    return SystemExit(
        f"Refusing the command-line argument '{redact(name)}': {why}, and "
        f"Hydra would save it into the run folder (.hydra/config.yaml, "
        f"overrides.yaml, hydra.yaml); put the key in the environment "
        f"instead (export {ENV_KEY}=...; the configs read it as "
        f"${{oc.env:{ENV_KEY},null}}) and leave it off the command line")


def _check(arg: str, name: str, value: str) -> None:
    # `name` is an override's key (or a flag), `value` what it is set to.
    option = re.split(r'[./]', name.split('@')[0].lstrip('+~'))[-1]
    if _SECRET_NAME.search(option) and _is_literal(value):
        raise _refusal(name, 'it sets a secret option to a literal value')
    if _KEY_VALUE.search(arg):
        raise _refusal(name, 'its value looks like an OpenAI API key')


def refuse_secret_overrides(argv: Sequence[str]) -> None:
    r"""Raises :class:`SystemExit` with one sentence when a command-line
    override in :obj:`argv` (:obj:`sys.argv[1:]` of a Hydra application)
    sets a secret option (the last component of its key contains
    ``api_key``, ``secret`` or ``password``, or ends with ``token``) to a
    literal value, or when any argument looks like an OpenAI key
    (``sk-...``): Hydra would save it into the run folder before the task
    runs. :obj:`null`, empty values and ``${...}`` interpolations are
    accepted, and so are Hydra's flags (:obj:`-m`, :obj:`--cfg job`,
    :obj:`-cn train`, ...). The sentence names the override, never its
    value.

    Args:
        argv (List[str]): The command-line arguments after the program.
    """
    flag = None  # A flag whose value is the next argument.
    for arg in argv:
        if flag is None and arg.startswith('-'):
            name, sep, value = arg.partition('=')
            flag = name if not sep and name in _VALUE_FLAGS else None
            _check(arg, name, value if sep else '')
            continue
        name, sep, value = arg.partition('=')
        _check(arg, name if sep else (flag or arg), value)
        flag = None


__all__: List[str] = [
    'ENV_KEY', 'KEY_PATTERN', 'redact', 'describe_api_error',
    'refuse_secret_overrides'
]
