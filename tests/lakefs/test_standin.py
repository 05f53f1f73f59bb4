"""Properties of Nightjar's stand-in itself (skipped against a real lakeFS)."""

import os
from concurrent.futures import ThreadPoolExecutor

import lakefs
import lakefs_sdk
import pytest
from lakefs.exceptions import NotAuthorizedException

from nightjar.embedded.lakefs_standin.process import StandinServer, StandinStartError

pytestmark = pytest.mark.skipif(bool(os.environ.get("LAKEFS_ENDPOINT")), reason="stand-in only")
KEY, SECRET = "AKSTANDIN", "standin-secret"


def test_state_survives_a_restart(tmp_path):
    with StandinServer(tmp_path, access_key_id=KEY, secret_access_key=SECRET) as server:
        client = lakefs.Client(host=server.endpoint, username=KEY, password=SECRET)
        repo = lakefs.Repository("persisted", client=client).create(storage_namespace="local://p")
        repo.branch("main").object("a").upload(b"kept")
        commit_id = repo.branch("main").commit("keep").get_commit().id
        repo.branch("main").object("staged").upload(b"staged too")
    with StandinServer(tmp_path, access_key_id=KEY, secret_access_key=SECRET) as server:
        client = lakefs.Client(host=server.endpoint, username=KEY, password=SECRET)
        main = lakefs.Repository("persisted", client=client).branch("main")
        assert main.get_commit().id == commit_id
        assert main.object("a").reader(mode="rb").read() == b"kept"
        assert [c.path for c in main.uncommitted()] == ["staged"]


def test_wrong_credentials_are_refused(lakefs_endpoint):
    endpoint, _, _ = lakefs_endpoint
    client = lakefs.Client(host=endpoint, username="nobody", password="wrong")
    with pytest.raises(NotAuthorizedException):
        lakefs.Repository("anything", client=client).create(storage_namespace="local://x")


def test_responses_validate_against_the_sdk_models(repo, client):
    """Strict pydantic validation of raw responses, beyond what the SDK checks itself."""
    api = client.sdk_client
    main = repo.branch("main")
    main.object("p/a").upload(b"x")
    main.commit("c", metadata={"k": "v"})
    raw = api.commits_api.get_commit_with_http_info(repo.id, main.get_commit().id).raw_data
    lakefs_sdk.Commit.parse_raw(raw)
    for call, model in [
        (
            lambda: api.repositories_api.get_repository_with_http_info(repo.id),
            lakefs_sdk.Repository,
        ),
        (lambda: api.branches_api.get_branch_with_http_info(repo.id, "main"), lakefs_sdk.Ref),
        (
            lambda: api.objects_api.stat_object_with_http_info(repo.id, "main", "p/a"),
            lakefs_sdk.ObjectStats,
        ),
        (
            lambda: api.objects_api.list_objects_with_http_info(repo.id, "main"),
            lakefs_sdk.ObjectStatsList,
        ),
        (lambda: api.refs_api.log_commits_with_http_info(repo.id, "main"), lakefs_sdk.CommitList),
        (
            lambda: api.refs_api.diff_refs_with_http_info(repo.id, "main~1", "main"),
            lakefs_sdk.DiffList,
        ),
        (lambda: api.config_api.get_config_with_http_info(), lakefs_sdk.Config),
    ]:
        model.parse_raw(call().raw_data)


def test_concurrent_writers_do_not_corrupt_state(repo):
    def write(i: int) -> str:
        branch = repo.branch(f"w{i}").create("main")
        branch.object(f"data/{i}").upload(str(i).encode())
        branch.commit(f"w{i}")
        return branch.merge_into(repo.branch("main"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        merges = list(pool.map(write, range(16)))
    assert len(set(merges)) == 16
    assert sorted(o.path for o in repo.branch("main").objects()) == sorted(
        f"data/{i}" for i in range(16)
    )


def test_refuses_to_bind_a_public_address(tmp_path):
    server = StandinServer(tmp_path, host="0.0.0.0", access_key_id=KEY, secret_access_key=SECRET)
    with pytest.raises(StandinStartError, match=r"exited|refusing"):
        server.start(timeout=15)
