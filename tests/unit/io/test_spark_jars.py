"""The pinned-jar fetch: each jar's SHA-256 is checked before it is kept, a wrong one is
refused and leaves nothing behind, a kept one is never fetched again, and an unreachable
repository is one line. Served by a real HTTP server laid out like Maven Central."""

import functools
import hashlib
import http.server
import threading
from typing import ClassVar

import pytest

from nightjar.core.errors import SparkUnavailableError
from nightjar.core.settings import Settings
from nightjar.io import spark_jars
from nightjar.io.spark_jars import Artifact, fetch_jars
from tests.ports import free_port

CONTENT = b"PK\x03\x04 not really a jar, but bytes with a known digest"


class _Counting(http.server.SimpleHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_GET(self):
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def repository(tmp_path):
    root = tmp_path / "maven"
    folder = root / "org" / "example" / "thing" / "1.0"
    folder.mkdir(parents=True)
    (folder / "thing-1.0.jar").write_bytes(CONTENT)
    handler = functools.partial(_Counting, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Counting.requests = []
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def _pin(monkeypatch, sha256: str) -> None:
    monkeypatch.setattr(spark_jars, "PINNED", (Artifact("org.example", "thing", "1.0", sha256),))


def test_a_jar_whose_digest_matches_is_kept_and_not_fetched_again(
    tmp_path, repository, monkeypatch
):
    _pin(monkeypatch, hashlib.sha256(CONTENT).hexdigest())
    settings = Settings(spark_jars=tmp_path / "jars")
    (path,) = fetch_jars(settings, repository=repository)
    assert path.read_bytes() == CONTENT
    fetch_jars(settings, repository=repository)
    assert _Counting.requests == ["/org/example/thing/1.0/thing-1.0.jar"]  # once


def test_a_jar_whose_digest_differs_is_refused_and_leaves_nothing(
    tmp_path, repository, monkeypatch
):
    _pin(monkeypatch, "0" * 64)
    settings = Settings(spark_jars=tmp_path / "jars")
    with pytest.raises(SparkUnavailableError, match="not the pinned 0000"):
        fetch_jars(settings, repository=repository)
    assert list((tmp_path / "jars").iterdir()) == []


def test_a_missing_jar_and_an_unreachable_repository_are_one_line(
    tmp_path, repository, monkeypatch
):
    monkeypatch.setattr(spark_jars, "PINNED", (Artifact("org.example", "gone", "2.0", "0" * 64),))
    settings = Settings(spark_jars=tmp_path / "jars")
    with pytest.raises(SparkUnavailableError, match=r"has no org.example:gone:2.0 \(HTTP 404"):
        fetch_jars(settings, repository=repository)
    with pytest.raises(SparkUnavailableError, match="cannot reach the Maven repository"):
        fetch_jars(settings, repository=f"http://127.0.0.1:{free_port()}")
    assert list((tmp_path / "jars").iterdir()) == []
