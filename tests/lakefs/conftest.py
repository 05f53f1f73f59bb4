"""lakeFS for the contract tests: a real one when LAKEFS_ENDPOINT is set, else the stand-in.

The tests use only the public ``lakefs`` SDK (and ``lakefs_sdk`` where the high-level SDK
has no call), so they run unchanged against either.
"""

import os
import uuid

import lakefs
import pytest


@pytest.fixture(scope="session")
def lakefs_endpoint(tmp_path_factory):
    if os.environ.get("LAKEFS_ENDPOINT"):
        yield (
            os.environ["LAKEFS_ENDPOINT"],
            os.environ["LAKEFS_ACCESS_KEY_ID"],
            os.environ["LAKEFS_SECRET_ACCESS_KEY"],
        )
        return
    from nightjar.embedded.lakefs_standin.process import StandinServer

    with StandinServer(
        tmp_path_factory.mktemp("standin"),
        access_key_id="AKCONTRACT",
        secret_access_key="contract-secret",
    ) as server:
        yield server.endpoint, "AKCONTRACT", "contract-secret"


@pytest.fixture(scope="session")
def client(lakefs_endpoint) -> lakefs.Client:
    endpoint, key, secret = lakefs_endpoint
    return lakefs.Client(host=endpoint, username=key, password=secret)


@pytest.fixture
def repo(client) -> lakefs.Repository:
    """A fresh repository per test, so tests can run against a shared real lakeFS."""
    namespace = os.environ.get("LAKEFS_STORAGE_NAMESPACE_PREFIX", "local://contract")
    name = f"nj-contract-{uuid.uuid4().hex[:12]}"
    repository = lakefs.Repository(name, client=client).create(
        storage_namespace=f"{namespace}/{name}"
    )
    yield repository
    repository.delete()
