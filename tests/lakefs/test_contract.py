"""The lakeFS behaviour Nightjar relies on, checked through the official SDK."""

import lakefs
import lakefs_sdk
import pytest
from lakefs.exceptions import (
    BadRequestException,
    ConflictException,
    ForbiddenException,
    NotFoundException,
    ServerException,
)


def _put(branch, path, data: bytes):
    branch.object(path).upload(data, mode="wb")


def _read(ref, path) -> bytes:
    return ref.object(path).reader(mode="rb").read()


def test_new_repository_has_an_initial_commit_on_main(repo):
    commits = list(repo.branch("main").log())
    assert [c.message for c in commits] == ["Repository created"]
    assert commits[0].parents == []


def test_branching_takes_the_committed_head_only(repo):
    main = repo.branch("main")
    _put(main, "committed.txt", b"1")
    main.commit("one")
    _put(main, "staged.txt", b"2")
    feature = repo.branch("feature").create("main")
    assert feature.get_commit().id == main.get_commit().id
    assert [o.path for o in feature.objects()] == ["committed.txt"]
    assert {o.path for o in main.objects()} == {"committed.txt", "staged.txt"}


def test_branch_create_conflict_unknown_source_and_bad_name(repo):
    with pytest.raises(ConflictException):
        repo.branch("main").create("main")
    with pytest.raises(NotFoundException):
        repo.branch("x1").create("no-such-ref")
    with pytest.raises(BadRequestException):
        repo.branch("bad/name").create("main")


def test_empty_commit_is_refused_unless_allowed(repo):
    main = repo.branch("main")
    with pytest.raises(BadRequestException, match="no changes"):
        main.commit("nothing")
    head = main.commit("allowed", allow_empty=True).get_commit()
    assert head.message == "allowed"


def test_commit_carries_metadata_and_ids_are_opaque_hex(repo):
    main = repo.branch("main")
    _put(main, "a", b"a")
    commit = main.commit("with metadata", metadata={"nightjar.dag_id": "d"}).get_commit()
    assert commit.metadata == {"nightjar.dag_id": "d"}
    assert len(commit.id) == 64 and int(commit.id, 16) >= 0
    assert repo.commit(commit.id[:12]).get_commit().id == commit.id, "unique prefixes resolve"


def test_merge_never_fast_forwards(repo):
    main = repo.branch("main")
    base = main.get_commit().id
    feature = repo.branch("feature").create("main")
    _put(feature, "f", b"f")
    feature_head = feature.commit("feature work").get_commit().id
    merge_id = feature.merge_into(main)
    merge = repo.commit(merge_id).get_commit()
    assert merge_id != feature_head
    assert merge.parents == [base, feature_head]
    assert merge.message == "Merge 'feature' into 'main'"
    assert ".lakefs.merge.strategy" in (merge.metadata or {})


def test_merge_with_nothing_to_merge_is_refused(repo):
    feature = repo.branch("feature").create("main")
    with pytest.raises(BadRequestException, match="no changes"):
        feature.merge_into(repo.branch("main"))


def test_uncommitted_changes_on_the_source_are_not_merged(repo):
    main = repo.branch("main")
    feature = repo.branch("feature").create("main")
    _put(feature, "committed", b"c")
    feature.commit("c")
    _put(feature, "staged-only", b"s")
    feature.merge_into(main)
    assert {o.path for o in main.objects()} == {"committed"}


def test_dirty_destination_is_refused(repo):
    main = repo.branch("main")
    feature = repo.branch("feature").create("main")
    _put(feature, "f", b"f")
    feature.commit("f")
    _put(main, "dirty", b"d")
    with pytest.raises(BadRequestException):
        feature.merge_into(main)


def _diverge(repo, *, feature_extra: dict[str, bytes] | None = None):
    """main and feature both change ``shared`` after branching: a conflict to resolve."""
    main = repo.branch("main")
    _put(main, "shared", b"base")
    main.commit("base")
    feature = repo.branch("feature").create("main")
    _put(main, "shared", b"main side")
    main.commit("main change")
    _put(feature, "shared", b"feature side")
    for path, data in (feature_extra or {}).items():
        _put(feature, path, data)
    feature.commit("feature change")
    return main, feature


def test_conflict_is_409_and_strategies_resolve_it(repo):
    main, feature = _diverge(repo)
    with pytest.raises(ConflictException):
        feature.merge_into(main)
    feature.merge_into(main, strategy="source-wins")
    assert _read(main, "shared") == b"feature side"


def test_dest_wins_strategy(repo):
    main, feature = _diverge(repo, feature_extra={"other": b"o"})
    feature.merge_into(main, strategy="dest-wins")
    assert _read(main, "shared") == b"main side" and _read(main, "other") == b"o"


def test_change_versus_delete_conflicts(repo):
    main = repo.branch("main")
    _put(main, "x", b"1")
    main.commit("base")
    feature = repo.branch("feature").create("main")
    main.object("x").delete()
    main.commit("delete")
    _put(feature, "x", b"2")
    feature.commit("change")
    with pytest.raises(ConflictException):
        feature.merge_into(main)


def test_squash_merge_has_one_parent(repo):
    main = repo.branch("main")
    base = main.get_commit().id
    feature = repo.branch("feature").create("main")
    _put(feature, "f", b"f")
    feature.commit("f")
    merge = repo.commit(feature.merge_into(main, squash_merge=True)).get_commit()
    assert merge.parents == [base]


def test_revert_makes_a_new_commit(repo):
    main = repo.branch("main")
    _put(main, "a", b"1")
    first = main.commit("add a").get_commit().id
    main.revert(first)
    head = main.get_commit()
    assert head.message.startswith("Revert") and head.parents == [first]
    assert [o.path for o in main.objects()] == []


def test_reset_drops_staged_changes(repo):
    main = repo.branch("main")
    _put(main, "a", b"1")
    main.reset_changes("reset")
    assert list(main.uncommitted()) == []


def test_diff_sees_committed_data_only(repo):
    main = repo.branch("main")
    feature = repo.branch("feature").create("main")
    _put(feature, "committed", b"c")
    feature.commit("c")
    _put(feature, "staged", b"s")
    changes = list(main.diff(feature))
    assert [(c.type, c.path) for c in changes] == [("added", "committed")]


def test_tags_are_immutable(repo):
    main = repo.branch("main")
    lakefs.Tag(repo.id, "v1", client=repo._client).create(main)
    with pytest.raises(ConflictException):
        lakefs.Tag(repo.id, "v1", client=repo._client).create(main)
    assert repo.tag("v1").get_commit().id == main.get_commit().id


def test_conditional_upload_refuses_an_existing_object(repo):
    main = repo.branch("main")
    main.object("once").upload(b"1", mode="xb")
    with pytest.raises((ServerException, lakefs.exceptions.ObjectExistsException)):
        main.object("once").upload(b"2", mode="xb")


def test_deleting_a_missing_object_succeeds(repo):
    repo.branch("main").object("never-there").delete()


def test_default_branch_cannot_be_deleted(repo):
    with pytest.raises(ForbiddenException):
        repo.branch("main").delete()


def test_protected_branch_refuses_writes_but_accepts_merges(repo, client):
    api = client.sdk_client.repositories_api
    api.set_branch_protection_rules(repo.id, [lakefs_sdk.BranchProtectionRule(pattern="main")])
    main = repo.branch("main")
    with pytest.raises(ForbiddenException):
        _put(main, "direct", b"x")
    feature = repo.branch("feature").create("main")
    _put(feature, "via-merge", b"x")
    feature.commit("f")
    feature.merge_into(main)
    assert [o.path for o in main.objects()] == ["via-merge"]
    assert [r.pattern for r in api.get_branch_protection_rules(repo.id)] == ["main"]


def _protect_main(repo, client) -> None:
    """Protect main and wait until lakeFS enforces it (a real one caches its settings)."""
    from nightjar.ingest.landing import protect_main

    protect_main(client, repo.id)


def test_a_protected_main_refuses_a_commit_and_a_reset(repo, client):
    main = repo.branch("main")
    _put(repo.branch("side").create("main"), "x", b"1")
    _protect_main(repo, client)
    with pytest.raises(ForbiddenException):
        main.commit("direct", allow_empty=True)
    with pytest.raises((ForbiddenException, lakefs_sdk.exceptions.ForbiddenException)):
        main.reset_changes()  # the SDK passes the low-level client's exception through


def test_a_protected_main_lets_a_revert_through(repo, client):
    """lakeFS does not apply branch protection to reverts: Nightjar's own check is what
    keeps main to validated merges (``nightjar data revert`` refuses main)."""
    side = repo.branch("side").create("main")
    _put(side, "a", b"1")
    side.commit("add a")
    merged = side.merge_into(repo.branch("main"))
    _protect_main(repo, client)
    main = repo.branch("main")
    main.revert(merged, parent_number=1)
    assert main.get_commit().message.startswith("Revert")
    assert [o.path for o in main.objects()] == []


def test_listing_paginates_and_groups_by_delimiter(repo):
    main = repo.branch("main")
    for i in range(7):
        _put(main, f"t/date=2026-01-0{i + 1}/part-0.parquet", b"x")
    _put(main, "top.txt", b"x")
    main.commit("files")
    listed = [o.path for o in main.objects(prefix="t/", max_amount=100)]
    assert len(listed) == 7
    api = repo._client.sdk_client.objects_api
    page = api.list_objects(repo.id, "main", prefix="t/", amount=3)
    assert page.pagination.has_more and len(page.results) == 3
    rest = api.list_objects(repo.id, "main", prefix="t/", after=page.pagination.next_offset)
    assert len(rest.results) == 4
    grouped = api.list_objects(repo.id, "main", delimiter="/")
    assert {r.path for r in grouped.results} == {"t/", "top.txt"}


def test_ref_modifiers(repo):
    main = repo.branch("main")
    first = main.get_commit().id
    _put(main, "a", b"1")
    second = main.commit("second").get_commit().id
    assert repo.ref("main~1").get_commit().id == first
    assert repo.ref(f"{second}^1").get_commit().id == first
    _put(main, "staged", b"s")
    assert {o.path for o in repo.ref("main@").objects()} == {"a"}


def test_range_reads(repo):
    main = repo.branch("main")
    _put(main, "r", b"0123456789")
    reader = main.object("r").reader(mode="rb")
    reader.seek(3)
    assert reader.read(4) == b"3456"
