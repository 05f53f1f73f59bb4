"""Real servers on 127.0.0.1 that notifications reach: SMTP (aiosmtpd) and HTTP, each with
the Airflow connection that points at it, as ``AIRFLOW_CONN_*`` JSON (Airflow's
environment-variables secrets backend)."""

from __future__ import annotations

import email
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, HTTPServer

from tests.ports import free_port


@dataclass
class SmtpInbox:
    """What the SMTP server received, each message parsed; ``connection``: its
    ``AIRFLOW_CONN_*`` value."""

    connection: str = ""
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def bodies(self) -> list[str]:
        return [m.get_body(("html",)).get_content() for m in self.messages]


@dataclass
class HttpRecorder:
    """Each POST the HTTP server received, as (path, JSON body); ``connection``: its
    ``AIRFLOW_CONN_*`` value, whose ``endpoint`` extra holds the token-bearing path."""

    connection: str = ""
    posts: list[tuple[str, dict]] = field(default_factory=list)

    def events(self, kind: str) -> list[dict]:
        return [body for _, body in self.posts if body.get("event") == kind]


@contextmanager
def smtp_inbox() -> Iterator[SmtpInbox]:
    from aiosmtpd.controller import Controller

    inbox = SmtpInbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    inbox.connection = json.dumps(
        {"conn_type": "smtp", "host": "127.0.0.1", "port": port,
         "extra": {"disable_tls": True, "disable_ssl": True, "retry_limit": 0,
                   "from_email": "nightjar@localhost"}}
    )  # fmt: skip
    try:
        yield inbox
    finally:
        controller.stop()


@contextmanager
def http_recorder() -> Iterator[HttpRecorder]:
    recorder = HttpRecorder()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            recorder.posts.append((self.path, json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    recorder.connection = json.dumps(
        {"conn_type": "http", "host": "127.0.0.1", "port": server.server_port,
         "extra": {"endpoint": "/hooks/T0KEN"}}
    )  # fmt: skip
    try:
        yield recorder
    finally:
        server.shutdown()
