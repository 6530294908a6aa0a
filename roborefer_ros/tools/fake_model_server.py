"""Fake model servers, run as real processes on loopback, for the HTTP backends' tests and benches.

TEST INSTRUMENTATION, NOT A MODEL. Two protocols::

    python -m roborefer_ros.tools.fake_model_server --protocol roborefer --answers A.json
    python -m roborefer_ros.tools.fake_model_server --protocol openai --answers A.json

``roborefer`` speaks the authors' Flask server (``GET /`` -> "Hello, World!", ``POST /query``);
``openai`` an OpenAI-compatible API (``GET .../models``, ``POST .../chat/completions``). The
server binds 127.0.0.1 on a free port and prints the port as the first line on stdout. It exits
on SIGTERM or after ``--lifetime-s`` seconds, whichever comes first.

Answers file (re-read on every request)::

    {"answers": {"<key>": <spec>, ...}}

A request is answered by the longest key found inside its prompt text (RoboRefer: ``text``, i.e.
the instruction followed by the suffix; OpenAI: the text parts of the message). A spec is one of:
``{"answer": "..."}`` (the model's text, wrapped in the protocol's reply; ``"content_parts":
true`` sends OpenAI content as a list of parts), ``{"reply": <any JSON>}`` (sent verbatim),
``{"status": 500, "body": "..."}`` (``"echo_headers": true`` appends the request headers),
``{"raw": "not json"}``, ``{"oversized_bytes": N}`` (a JSON reply of N bytes; ``"send_length":
false`` omits Content-Length), ``{"close": true}`` (drop the connection unanswered), or
``{"sequence": [spec, ...]}`` (the n-th request with that key gets item n; the last repeats).
``"delay_s"`` delays any spec. Unknown prompts get HTTP 404. With ``--log``, every request
(method, path, headers, JSON body or null for GET) is appended to a JSONL file before it is
answered.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

PROTOCOLS = ("roborefer", "openai")
MAX_BODY_BYTES = 256 * 1024 * 1024
_MODULE = "roborefer_ros.tools.fake_model_server"
REQUIRED_KEY_ENV = "FAKE_SERVER_API_KEY"  # if set in the server's environment, keys are checked


class _FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(("127.0.0.1", args.port), _Handler)
        self.protocol: str = args.protocol
        self.answers_path = Path(args.answers)
        self.log_path = Path(args.log) if args.log else None
        self.model: str = args.model
        self.serve_models: bool = not args.no_models
        self.required_key = os.environ.get(REQUIRED_KEY_ENV) or None
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up mid-reply are part of the tests; stay quiet about them."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def record(self, entry: Mapping[str, Any]) -> None:
        if self.log_path is None:
            return
        line = json.dumps(entry) + "\n"
        with self.lock, self.log_path.open("a") as log:
            log.write(line)

    def spec_for(self, text: str) -> tuple[str, dict[str, Any]] | None:
        """(key, spec) of the longest answers key inside ``text``; sequences advance per key."""
        answers: dict[str, Any] = json.loads(self.answers_path.read_text())["answers"]
        keys = [k for k in answers if k in text]
        if not keys:
            return None
        key = max(keys, key=len)
        spec: dict[str, Any] = answers[key]
        if "sequence" in spec:
            with self.lock:
                index = self.counts.get(key, 0)
                self.counts[key] = index + 1
            items = spec["sequence"]
            spec = items[min(index, len(items) - 1)]
        return key, spec


class _Handler(BaseHTTPRequestHandler):
    server: _FakeServer
    disable_nagle_algorithm = True  # headers and body go out at once: no delayed-ACK stalls

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the JSONL log is the record."""

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        self.server.record(
            {
                "method": "GET",
                "path": self.path,
                "headers": dict(self.headers.items()),
                "body": None,
                "t": time.time(),
            }
        )
        if self.server.protocol == "roborefer" and path == "/":
            self._send(200, b"Hello, World!", "text/html; charset=utf-8")
        elif self.server.protocol == "openai" and path.endswith("/models"):
            if not self.server.serve_models:
                self._send_json(404, {"error": "no such route"})
            elif not self._authorised():
                return
            else:
                self._send_json(200, {"object": "list", "data": [{"id": self.server.model}]})
        else:
            self._send_json(404, {"error": f"no route {path}"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send_json(413, {"error": f"body of {length} bytes"})
            return
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            self._send_json(400, {"error": "body is not JSON"})
            return
        self.server.record(
            {
                "method": "POST",
                "path": self.path,
                "headers": dict(self.headers.items()),
                "body": body,
                "t": time.time(),
            }
        )
        if self.server.protocol == "openai" and not self._authorised():
            return
        found = self.server.spec_for(_prompt_text(self.server.protocol, body))
        if found is None:
            self._send_json(404, {"error": "no recorded answer for this prompt"})
            return
        self._answer(found[1])

    def _authorised(self) -> bool:
        """Check the bearer key if the server was started with one (401 echoing it, if not)."""
        required = self.server.required_key
        given = self.headers.get("Authorization", "")
        if required is None or given == f"Bearer {required}":
            return True
        # Real servers sometimes echo the key they got: the client must scrub it.
        self._send_json(401, {"error": {"message": f"Incorrect API key provided: {given}"}})
        return False

    def _answer(self, spec: Mapping[str, Any]) -> None:
        time.sleep(float(spec.get("delay_s", 0.0)))
        if spec.get("close"):
            self.close_connection = True  # the server closes the socket with nothing sent
        elif "status" in spec:
            text = str(spec.get("body", "Internal Server Error"))
            if spec.get("echo_headers"):
                text += " " + json.dumps(dict(self.headers.items()))
            self._send(int(spec["status"]), text.encode(), "text/plain")
        elif "raw" in spec:
            self._send(200, str(spec["raw"]).encode(), "application/json")
        elif "oversized_bytes" in spec:
            size = int(spec["oversized_bytes"])
            head, tail = b'{"result": 1, "answer": "', b'"}'
            body = head + b"x" * max(0, size - len(head) - len(tail)) + tail
            self._send(200, body, "application/json", bool(spec.get("send_length", True)))
        elif "reply" in spec:
            self._send_json(200, spec["reply"])
        else:
            self._send_json(200, self._envelope(str(spec["answer"]), spec))

    def _envelope(self, answer: str, spec: Mapping[str, Any]) -> Any:
        if self.server.protocol == "roborefer":
            return {"result": 1, "answer": answer}
        content: Any = [{"type": "text", "text": answer}] if spec.get("content_parts") else answer
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "model": self.server.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
        }

    def _send_json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str, send_length: bool = True) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            if send_length:
                self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        except ConnectionError:
            pass  # the client gave up (a size limit or a timeout): expected in tests
        self.close_connection = True


def _prompt_text(protocol: str, body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    if protocol == "roborefer":
        return str(body.get("text", ""))
    texts: list[str] = []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts += [str(p.get("text", "")) for p in content if isinstance(p, dict)]
    return "\n".join(texts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--protocol", choices=PROTOCOLS, required=True)
    parser.add_argument("--answers", required=True, help="answers JSON (see the module docstring)")
    parser.add_argument("--log", default="", help="JSONL file receiving every request")
    parser.add_argument("--port", type=int, default=0, help="0 = a free port")
    parser.add_argument("--model", default="fake-vlm", help="openai: the model id /models lists")
    parser.add_argument("--no-models", action="store_true", help="openai: 404 on /models")
    parser.add_argument("--lifetime-s", type=float, default=300.0, help="exit after this long")
    args = parser.parse_args(argv)

    server = _FakeServer(args)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    print(server.server_address[1], flush=True)
    try:
        stop.wait(args.lifetime_s)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5.0)
    return 0


class FakeModelServer:
    """Runs the fake server as a child process; for tests and benches (``with`` closes it).

    ``answers`` is the ``{"answers": ...}`` mapping's content; ``api_key``, if given, makes the
    OpenAI fake require ``Authorization: Bearer <api_key>``. ``port`` 0 takes a free port; a
    server started again after ``kill`` or ``stop`` keeps the port it had (a restarted server).
    """

    def __init__(
        self,
        protocol: str,
        answers: Mapping[str, Mapping[str, Any]],
        workdir: Path,
        *,
        log: bool = True,
        no_models: bool = False,
        api_key: str | None = None,
        lifetime_s: float = 300.0,
        port: int = 0,
    ) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r}; known: {PROTOCOLS}")
        self.protocol = protocol
        self.workdir = Path(workdir)
        self.answers_path = self.workdir / f"{protocol}_answers.json"
        self.log_path = self.workdir / f"{protocol}_requests.jsonl" if log else None
        self.stderr_path = self.workdir / f"{protocol}_stderr.txt"
        self.set_answers(answers)
        self.no_models = no_models
        self.api_key = api_key
        self.lifetime_s = lifetime_s
        self.port = port
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_answers(self, answers: Mapping[str, Mapping[str, Any]]) -> None:
        """Replace the answers; the running server reads them on its next request."""
        tmp = self.answers_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"answers": answers}))
        tmp.replace(self.answers_path)

    def start(self, timeout_s: float = 15.0) -> FakeModelServer:
        """Start the process and wait (at most ``timeout_s``) for its port line."""
        args = [sys.executable, "-m", _MODULE, "--protocol", self.protocol]
        args += ["--answers", str(self.answers_path), "--lifetime-s", str(self.lifetime_s)]
        args += ["--port", str(self.port)]
        if self.log_path is not None:
            args += ["--log", str(self.log_path)]
        if self.no_models:
            args.append("--no-models")
        env = dict(os.environ)
        env.pop(REQUIRED_KEY_ENV, None)
        if self.api_key is not None:
            env[REQUIRED_KEY_ENV] = self.api_key  # the environment, not argv: ps shows argv
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        with self.stderr_path.open("wb") as stderr:
            self._proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, env=env
            )
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], timeout_s)
        line = self._proc.stdout.readline() if ready else b""
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(
                f"fake {self.protocol} server did not start within {timeout_s} s: "
                f"{self.stderr_path.read_text(errors='replace')[-2000:]}"
            )
        self.port = int(line)
        return self

    def requests(self) -> list[dict[str, Any]]:
        """Every request logged so far, oldest first. A line the server is still writing (a
        large request is written in pieces) is left for the next call."""
        if self.log_path is None or not self.log_path.exists():
            return []
        text = self.log_path.read_text()
        complete = text[: text.rfind("\n") + 1]
        return [json.loads(line) for line in complete.splitlines() if line]

    def clear_log(self) -> None:
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL, as a crashed or OOM-killed model server: connections drop unanswered."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.kill()
        proc.wait(timeout=10.0)
        if proc.stdout is not None:
            proc.stdout.close()

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout_s``."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout_s)
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> FakeModelServer:
        return self.start() if self._proc is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


if __name__ == "__main__":
    sys.exit(main())
