r"""A fake OpenAI-compatible HTTP server on 127.0.0.1 for the tests: chat
completions, embeddings, files and batches, with injectable faults and
request counts. Standard library only; runs in a daemon thread.

Faults (``FAULTS``): ``'429'`` (with ``Retry-After``), ``'500'``,
``'slow'`` (answers after :obj:`slow_seconds`, past the client timeout),
``'401'`` (echoing the key), ``'400'`` (a server without JSON mode),
``'malformed'`` (content that is not JSON), ``'fenced'`` (valid JSON in a
code fence), ``'prose'`` (JSON after leading prose), ``'empty'`` (empty
content). They come from :obj:`script` (consumed in order, one per chat
request; ``'429'`` and ``'500'`` also for embeddings) or, with
:obj:`fault_rate`, from a hash of the prompt and its
attempt number: a chosen prompt gets faults on its first one or two
attempts, so that a client with retries always finishes.

Errors (:obj:`errors`, a route of ``ROUTES`` -> an HTTP status of
``ERROR_STATUS``): every request on the route is answered with that status
and a message that echoes the ``Authorization`` key, whole and masked
(``sk-abc***wxyz``, see :func:`masked`), as some servers do; with
``Retry-After`` so that retrying clients finish quickly. The dict can be
changed (*e.g.*, cleared) while the server runs.
"""
import base64
import email.parser
import hashlib
import json
import struct
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple

FAULTS = ('429', '500', 'slow', 'malformed', 'fenced', 'prose', 'empty')
#: Routes that :obj:`errors` can break: chat completions, embeddings, file
#: upload, batch creation, batch retrieval (polling), file content.
ROUTES = ('chat', 'embeddings', 'upload', 'batch_create', 'batch_retrieve',
          'batch_list', 'file_content')
ERROR_STATUS = (400, 401, 403, 404, 409, 422, 429, 500, 503)


def masked(key: str) -> str:
    r"""The masked copy of :obj:`key` that the error messages echo: its
    first six characters (``sk-`` and three), ``***`` and its last four."""
    return key[:6] + '***' + key[-4:]


def prompt_id(text: str) -> str:
    r"""The id under which the server counts a prompt (the last message)."""
    return hashlib.sha256(text.encode('utf-8')).hexdigest()[:12]


def answer(pid: str) -> Dict[str, str]:
    return {'summarization': f'profile {pid}', 'reasoning': f'because {pid}'}


def _unit(text: str, seed: int) -> float:
    digest = hashlib.sha256(f'{seed}:{text}'.encode()).digest()
    return int.from_bytes(digest[:8], 'big') / 2**64


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and closed its connection is expected.
        import sys
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeOpenAIServer:
    def __init__(self, fault_rate: float = 0.0, script: Optional[List[str]]
                 = None, faults: Tuple[str, ...] = FAULTS,
                 retry_after: str = '0.01', slow_seconds: float = 1.0,
                 latency: float = 0.0, seed: int = 0,
                 errors: Optional[Dict[str, int]] = None) -> None:
        self.fault_rate, self.faults, self.seed = fault_rate, faults, seed
        self.errors = dict(errors or {})
        for route, status in self.errors.items():
            assert route in ROUTES and status in ERROR_STATUS, (route, status)
        self.script = list(script or [])
        self.retry_after, self.slow_seconds = retry_after, slow_seconds
        self.latency = latency
        self.lock = threading.Lock()
        self.requests: List[Dict[str, Any]] = []  # One entry per request.
        self.in_flight = self.max_in_flight = 0  # Concurrent chat requests.
        # Batch lines created and not yet completed (now, and at most).
        self.enqueued = self.max_enqueued = 0
        self.attempts: Counter = Counter()  # Chat requests per prompt id.
        self.files: Dict[str, bytes] = {}
        self.batches: Dict[str, Dict[str, Any]] = {}
        self.httpd = _QuietServer(('127.0.0.1', 0), _handler(self))
        self.httpd.daemon_threads = True
        self.url = f'http://127.0.0.1:{self.httpd.server_port}/v1'
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)

    def __enter__(self) -> 'FakeOpenAIServer':
        self.thread.start()
        return self

    def __exit__(self, *args: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def chat_ids(self) -> List[str]:
        return [r['pid'] for r in self.requests if r['path'] == 'chat']

    def fault(self, pid: str) -> Optional[str]:
        with self.lock:
            attempt = self.attempts[pid]
            self.attempts[pid] += 1
            if self.script:
                return self.script.pop(0)
        if _unit(pid, self.seed) >= self.fault_rate:
            return None
        depth = 1 + int(_unit(pid, self.seed + 1) < 0.3)
        if attempt >= depth:
            return None
        pick = _unit(f'{pid}:{attempt}', self.seed + 2)
        return self.faults[int(pick * len(self.faults))]

    def completion(self, body: Dict[str, Any],
                   fault: Optional[str]) -> Dict[str, Any]:
        prompt = body['messages'][-1]['content']
        pid = prompt_id(prompt)
        content = json.dumps(answer(pid))
        content = {
            'malformed': 'Sure! {"summarization": "unterminated',
            'fenced': f'```json\n{content}\n```',
            'prose': f'Here is the profile you asked for:\n{content}',
            'empty': '',
        }.get(fault or '', content)
        return dict(
            id=f'chatcmpl-{pid}', object='chat.completion',
            created=int(time.time()), model=body.get('model', 'fake'),
            choices=[
                dict(index=0, finish_reason='stop',
                     message=dict(role='assistant', content=content))
            ], usage=dict(prompt_tokens=len(prompt) // 4,
                          completion_tokens=20,
                          total_tokens=len(prompt) // 4 + 20))

    def embed(self, body: Dict[str, Any]) -> Dict[str, Any]:
        inputs = body['input']
        inputs = [inputs] if isinstance(inputs, str) else inputs
        dim = body.get('dimensions') or 12
        data = []
        for i, text in enumerate(inputs):
            vec = [_unit(f'{text}:{j}', self.seed) - 0.5 for j in range(dim)]
            if body.get('encoding_format') == 'base64':
                vec = base64.b64encode(struct.pack(f'<{dim}f', *vec)).decode()
            data.append(dict(object='embedding', index=i, embedding=vec))
        return dict(object='list', data=data, model=body['model'],
                    usage=dict(prompt_tokens=len(inputs), total_tokens=0))

    def run_batch(self, batch_id: str) -> None:
        lines, errors = [], []
        raw = self.files[self.batches[batch_id]['input_file_id']]
        for line in raw.decode('utf-8').splitlines():
            req = json.loads(line)
            pid = prompt_id(req['body']['messages'][-1]['content'])
            fault = self.fault(pid)
            self.requests.append(dict(path='batch_line', pid=pid,
                                      fault=fault))
            out = dict(id=f'req-{pid}', custom_id=req['custom_id'])
            if fault in ('429', '500', 'slow'):
                errors.append(dict(out, response=None, error=dict(
                    code='server_error', message=f'fault {fault}')))
            else:
                lines.append(dict(out, error=None, response=dict(
                    status_code=200, body=self.completion(req['body'],
                                                          fault))))
        batch = self.batches[batch_id]
        for name, rows in (('output_file_id', lines), ('error_file_id',
                                                       errors)):
            if rows:
                file_id = f'file-{batch_id}-{name[:3]}'
                self.files[file_id] = '\n'.join(
                    json.dumps(r) for r in rows).encode() + b'\n'
                batch[name] = file_id
        batch['status'] = 'completed'
        server_lines = len(lines) + len(errors)
        self.enqueued -= server_lines
        batch['request_counts'] = dict(total=len(lines) + len(errors),
                                       completed=len(lines),
                                       failed=len(errors))


def _handler(server: FakeOpenAIServer) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'  # keep-alive, as real servers

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, payload: Any,
                  headers: Optional[Dict[str, str]] = None) -> None:
            body = payload if isinstance(payload, bytes) else json.dumps(
                payload).encode()
            try:
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # The client gave up (timeout).

        def _error(self, route: str) -> bool:
            # Answers with the status set for `route`, if any; the message
            # echoes the key, whole and masked.
            status = server.errors.get(route)
            if status is None:
                return False
            key = self.headers.get('Authorization', '')[7:]
            with server.lock:
                server.requests.append(dict(path=route, pid=None,
                                            fault=str(status)))
            self._send(status, {'error': {
                'message': f'Request refused ({status}); incorrect API key '
                f'provided: {key} (shown as {masked(key)})',
                'type': 'invalid_request_error', 'code': str(status)
            }}, {'Retry-After': server.retry_after})
            return True

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get('Content-Length', 0)))

        def _chat(self, body: Dict[str, Any]) -> None:
            if self._error('chat'):
                return
            pid = prompt_id(body['messages'][-1]['content'])
            fault = server.fault(pid)
            with server.lock:
                server.requests.append(dict(
                    path='chat', pid=pid, fault=fault,
                    json_mode='response_format' in body, t=time.time()))
            if fault == '400':  # A server without JSON mode.
                return self._send(400, {'error': {
                    'message': "Unknown field 'response_format'"
                }})
            if fault == '429':
                return self._send(429, {'error': {
                    'message': 'Rate limit', 'type': 'rate_limit'
                }}, {'Retry-After': server.retry_after})
            if fault == '401':  # Echoes the key, as some servers do.
                return self._send(401, {'error': {
                    'message': 'Incorrect API key provided: ' +
                    self.headers.get('Authorization', '')[7:]
                }})
            if fault == '500':
                return self._send(500, {'error': {'message': 'boom'}})
            if fault == 'slow':
                time.sleep(server.slow_seconds)
            return self._send(200, server.completion(body, fault))

        def do_POST(self) -> None:
            raw = self._body()
            if self.path.endswith('/chat/completions'):
                with server.lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight,
                                               server.in_flight)
                try:
                    time.sleep(server.latency)
                    self._chat(json.loads(raw))
                finally:
                    with server.lock:
                        server.in_flight -= 1
                return
            if self.path.endswith('/embeddings'):
                if self._error('embeddings'):
                    return
                with server.lock:
                    fault = server.script.pop(0) if server.script else None
                server.requests.append(dict(path='embeddings', pid=None,
                                            fault=fault))
                if fault in ('429', '500'):
                    return self._send(int(fault), {'error': {
                        'message': f'fault {fault}'
                    }}, {'Retry-After': server.retry_after})
                return self._send(200, server.embed(json.loads(raw)))
            if self.path.endswith('/files'):
                if self._error('upload'):
                    return
                msg = email.parser.BytesParser().parsebytes(
                    b'Content-Type: ' + self.headers['Content-Type'].encode() +
                    b'\r\n\r\n' + raw)
                parts = {p.get_param('name', header='content-disposition'): p
                         for p in msg.get_payload()}
                data = parts['file'].get_payload(decode=True)
                file_id = f'file-{len(server.files)}'
                server.files[file_id] = data
                return self._send(200, dict(
                    id=file_id, object='file', bytes=len(data),
                    created_at=int(time.time()), filename='input.jsonl',
                    purpose='batch', status='processed'))
            if self.path.endswith('/batches'):
                if self._error('batch_create'):
                    return
                body = json.loads(raw)
                batch_id = f'batch-{len(server.batches)}'
                server.batches[batch_id] = dict(
                    id=batch_id, object='batch', endpoint=body['endpoint'],
                    input_file_id=body['input_file_id'],
                    completion_window='24h', created_at=int(time.time()),
                    status='validating', metadata=body.get('metadata'))
                server.requests.append(dict(path='batches', pid=batch_id))
                lines = server.files[body['input_file_id']].count(b'\n')
                server.enqueued += lines
                server.max_enqueued = max(server.max_enqueued,
                                          server.enqueued)
                return self._send(200, server.batches[batch_id])
            self._send(404, {'error': {'message': f'no route {self.path}'}})

        def do_GET(self) -> None:
            parts = self.path.rstrip('/').split('/')
            if self.path.split('?')[0].endswith('/batches'):  # The list.
                if self._error('batch_list'):
                    return
                return self._send(200, dict(
                    object='list', data=list(server.batches.values())[::-1],
                    has_more=False))
            if '/batches/' in self.path:
                if self._error('batch_retrieve'):
                    return
                batch = server.batches[parts[-1]]
                if batch['status'] == 'validating':
                    batch['status'] = 'in_progress'  # Done on next poll.
                elif batch['status'] == 'in_progress':
                    server.run_batch(parts[-1])
                return self._send(200, batch)
            if '/files/' in self.path and parts[-1] == 'content':
                if self._error('file_content'):
                    return
                return self._send(200, server.files[parts[-2]])
            self._send(404, {'error': {'message': f'no route {self.path}'}})

    return Handler
