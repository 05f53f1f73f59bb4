"""The lakeFS REST API subset the ``lakefs`` SDK uses, over ``Repositories``.

Routes, status codes and bodies follow lakeFS's ``api/swagger.yml``. API requests are
authenticated with HTTP basic auth, S3-gateway requests (``s3_gateway``) with SigV4, and
every operation is served under one lock, so concurrent clients see each one whole.
"""

from __future__ import annotations

import base64
import hmac
import html
import json
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse

from nightjar.embedded.lakefs_standin import s3_gateway
from nightjar.embedded.lakefs_standin.errors import LakeFSError, bad_request
from nightjar.embedded.lakefs_standin.repository import Repositories
from nightjar.embedded.lakefs_standin.store import Store

API = "/api/v1"
MAX_AMOUNT = 1000
VERSION = "1.84.0-nightjar-standin"


def _paginate(items: list[dict], key: str, after: str, amount: int) -> dict:
    amount = max(1, min(amount or 100, MAX_AMOUNT))
    remaining = [i for i in items if i[key] > after] if after else items
    page = remaining[:amount]
    return {
        "pagination": {
            "has_more": len(remaining) > amount,
            "next_offset": page[-1][key] if page else "",
            "results": len(page),
            "max_per_page": MAX_AMOUNT,
        },
        "results": page,
    }


def _object_stats(path: str, entry: dict, namespace: str) -> dict:
    return {
        "path": path,
        "path_type": "object",
        "physical_address": f"{namespace.rstrip('/')}/data/{entry['checksum']}",
        "checksum": entry["checksum"],
        "size_bytes": entry["size_bytes"],
        "mtime": entry["mtime"],
        "metadata": entry.get("metadata") or {},
        "content_type": entry.get("content_type"),
    }


def create_app(data_dir, access_key_id: str, secret_access_key: str) -> FastAPI:
    """The stand-in's HTTP app: the part of lakeFS's API the SDK uses, and its S3 gateway."""
    store = Store(data_dir)
    repos = Repositories(store)
    app = FastAPI(title="Nightjar lakeFS stand-in", docs_url=None, redoc_url=None)
    expected = base64.b64encode(f"{access_key_id}:{secret_access_key}".encode()).decode()

    @app.middleware("http")
    async def authenticate_and_serialise(request: Request, call_next):
        path = request.url.path
        public = path == f"{API}/healthcheck"
        if not path.startswith((f"{API}/", "/browse/")):
            return await call_next(request)  # the S3 gateway checks SigV4 itself
        header = request.headers.get("authorization", "")
        if not public and not hmac.compare_digest(header.encode(), f"Basic {expected}".encode()):
            return JSONResponse({"message": "error authenticating request"}, status_code=401)
        return await call_next(request)

    @app.exception_handler(LakeFSError)
    async def lakefs_error(_: Request, exc: LakeFSError) -> JSONResponse:
        body: dict[str, Any] = {"message": exc.message}
        return JSONResponse(body, status_code=exc.status)

    def locked(fn, *args, **kwargs):
        with store.lock:
            return fn(*args, **kwargs)

    async def body_json(request: Request) -> dict:
        raw = await request.body()
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise bad_request(f"invalid JSON body: {exc}") from None

    # --- service --------------------------------------------------------------------------

    @app.get(f"{API}/healthcheck")
    def healthcheck() -> Response:
        return Response(status_code=204)

    def storage_config() -> dict:
        return {
            "blockstore_type": "local",
            "blockstore_namespace_example": "local://bucket/",
            "blockstore_namespace_ValidityRegex": "^.+$",
            "pre_sign_support": False,
            "pre_sign_support_ui": False,
            "import_support": False,
            "import_validity_regex": "^$",
            "pre_sign_multipart_upload": False,
        }

    @app.get(f"{API}/config")
    def config() -> dict:
        return {
            "version_config": {"version": VERSION, "upgrade_recommended": False},
            "storage_config": storage_config(),
        }

    @app.get(f"{API}/config/version")
    def version() -> dict:
        return {"version": VERSION, "upgrade_recommended": False}

    @app.get(f"{API}/config/storage")
    def storage() -> dict:
        return storage_config()

    # --- repositories ---------------------------------------------------------------------

    @app.post(f"{API}/repositories", status_code=201)
    async def create_repository(request: Request) -> dict:
        body = await body_json(request)
        return locked(
            repos.create_repository,
            body.get("name", ""),
            body.get("storage_namespace", ""),
            body.get("default_branch") or "main",
        )

    @app.get(f"{API}/repositories")
    def list_repositories(after: str = "", amount: int = 100, prefix: str = "") -> dict:
        items = [r for r in locked(repos.repositories) if r["id"].startswith(prefix)]
        return _paginate(items, "id", after, amount)

    @app.get(f"{API}/repositories/{{repo}}")
    def get_repository(repo: str) -> dict:
        return locked(repos.repository, repo)

    @app.delete(f"{API}/repositories/{{repo}}", status_code=204)
    def delete_repository(repo: str) -> Response:
        locked(repos.delete_repository, repo)
        return Response(status_code=204)

    # --- branches -------------------------------------------------------------------------

    @app.post(f"{API}/repositories/{{repo}}/branches")
    async def create_branch(repo: str, request: Request) -> PlainTextResponse:
        body = await body_json(request)
        commit_id = locked(repos.create_branch, repo, body.get("name", ""), body.get("source", ""))
        return PlainTextResponse(commit_id, status_code=201)

    def ref_routes(kind: str, listing, getter, deleter) -> None:
        """List, get and delete for a kind of named ref (branches, tags): the same three
        routes in lakeFS's API, each with its own repository method."""

        @app.get(f"{API}/repositories/{{repo}}/{kind}", name=f"list_{kind}")
        def list_refs(repo: str, after: str = "", amount: int = 100, prefix: str = "") -> dict:
            items = [ref for ref in locked(listing, repo) if ref["id"].startswith(prefix)]
            return _paginate(items, "id", after, amount)

        @app.get(f"{API}/repositories/{{repo}}/{kind}/{{name}}", name=f"get_{kind}")
        def get_ref(repo: str, name: str) -> dict:
            return locked(getter, repo, name)

        @app.delete(
            f"{API}/repositories/{{repo}}/{kind}/{{name}}", status_code=204, name=f"delete_{kind}"
        )
        def delete_ref(repo: str, name: str) -> Response:
            locked(deleter, repo, name)
            return Response(status_code=204)

    ref_routes("branches", repos.branches, repos.branch, repos.delete_branch)

    @app.put(f"{API}/repositories/{{repo}}/branches/{{branch}}", status_code=204)
    async def reset_branch(repo: str, branch: str, request: Request) -> Response:
        body = await body_json(request)
        locked(repos.reset, repo, branch, body.get("type", "reset"), body.get("path"))
        return Response(status_code=204)

    @app.get(f"{API}/repositories/{{repo}}/branches/{{branch}}/diff")
    def diff_branch(
        repo: str, branch: str, after: str = "", amount: int = 100, prefix: str = ""
    ) -> dict:
        changes = [
            c for c in locked(repos.diff_uncommitted, repo, branch) if c["path"].startswith(prefix)
        ]
        return _paginate(changes, "path", after, amount)

    @app.post(f"{API}/repositories/{{repo}}/branches/{{branch}}/commits", status_code=201)
    async def commit(repo: str, branch: str, request: Request) -> dict:
        body = await body_json(request)
        return locked(
            repos.commit_branch,
            repo,
            branch,
            body.get("message", ""),
            body.get("metadata") or {},
            bool(body.get("allow_empty")),
        )

    @app.post(f"{API}/repositories/{{repo}}/branches/{{branch}}/revert", status_code=204)
    async def revert(repo: str, branch: str, request: Request) -> Response:
        body = await body_json(request)
        locked(
            repos.revert,
            repo,
            branch,
            body.get("ref", ""),
            int(body.get("parent_number") or 0),
            body.get("commit_overrides", {}).get("metadata") or {},
            bool(body.get("allow_empty")),
        )
        return Response(status_code=204)

    # --- refs, commits, merges ------------------------------------------------------------

    @app.get(f"{API}/repositories/{{repo}}/commits/{{commit_id}}")
    def get_commit(repo: str, commit_id: str) -> dict:
        return locked(lambda: repos.commit(repo, repos.resolve(repo, commit_id).commit_id))

    @app.get(f"{API}/repositories/{{repo}}/refs/{{ref}}/commits")
    def log_commits(repo: str, ref: str, after: str = "", amount: int = 100) -> dict:
        commits = locked(repos.log, repo, ref)
        if after:
            ids = [c["id"] for c in commits]
            commits = commits[ids.index(after) + 1 :] if after in ids else []
        amount = max(1, min(amount or 100, MAX_AMOUNT))
        page = commits[:amount]
        return {
            "pagination": {
                "has_more": len(commits) > amount,
                "next_offset": page[-1]["id"] if page else "",
                "results": len(page),
                "max_per_page": MAX_AMOUNT,
            },
            "results": page,
        }

    @app.get(f"{API}/repositories/{{repo}}/refs/{{left}}/diff/{{right}}")
    def diff_refs(
        repo: str, left: str, right: str, after: str = "", amount: int = 100, prefix: str = ""
    ) -> dict:
        changes = [
            c for c in locked(repos.diff_refs, repo, left, right) if c["path"].startswith(prefix)
        ]
        return _paginate(changes, "path", after, amount)

    @app.post(f"{API}/repositories/{{repo}}/refs/{{source}}/merge/{{dest}}")
    async def merge(repo: str, source: str, dest: str, request: Request) -> JSONResponse:
        body = await body_json(request)
        try:
            reference = locked(
                repos.merge,
                repo,
                source,
                dest,
                message=body.get("message"),
                metadata=body.get("metadata") or {},
                strategy=body.get("strategy") or "",
                squash=bool(body.get("squash_merge")),
                allow_empty=bool(body.get("allow_empty")),
            )
        except LakeFSError as exc:
            if exc.status == 409:
                return JSONResponse({"message": exc.message, "reference": ""}, status_code=409)
            raise
        return JSONResponse({"reference": reference})

    # --- tags -----------------------------------------------------------------------------

    @app.post(f"{API}/repositories/{{repo}}/tags", status_code=201)
    async def create_tag(repo: str, request: Request) -> dict:
        body = await body_json(request)
        return locked(repos.create_tag, repo, body.get("id", ""), body.get("ref", ""))

    ref_routes("tags", repos.tags, repos.tag, repos.delete_tag)

    # --- branch protection ----------------------------------------------------------------

    @app.get(f"{API}/repositories/{{repo}}/settings/branch_protection")
    def get_protection(repo: str) -> JSONResponse:
        return JSONResponse(
            locked(lambda: (repos.repository(repo), repos.protection_rules(repo))[1])
        )

    @app.put(f"{API}/repositories/{{repo}}/settings/branch_protection", status_code=204)
    async def set_protection(repo: str, request: Request) -> Response:
        rules = json.loads(await request.body() or b"[]")
        if not isinstance(rules, list):
            raise bad_request("expected a list of rules")
        locked(repos.set_protection_rules, repo, rules)
        return Response(status_code=204)

    # --- objects --------------------------------------------------------------------------

    @app.post(f"{API}/repositories/{{repo}}/branches/{{branch}}/objects", status_code=201)
    async def upload(repo: str, branch: str, path: str, request: Request) -> dict:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            form = await request.form()
            upload_file = form.get("content")
            data = await upload_file.read() if upload_file is not None else b""
            content_type = getattr(upload_file, "content_type", None) or ""
        else:
            data = await request.body()
        metadata = {
            k[len("x-lakefs-meta-") :]: v
            for k, v in request.headers.items()
            if k.lower().startswith("x-lakefs-meta-")
        }
        entry = locked(
            repos.stage_object,
            repo,
            branch,
            path,
            data,
            content_type=content_type or None,
            metadata=metadata,
            if_none_match=request.headers.get("if-none-match") == "*",
        )
        namespace = locked(repos.repository, repo)["storage_namespace"]
        return _object_stats(path, entry, namespace)

    @app.delete(f"{API}/repositories/{{repo}}/branches/{{branch}}/objects", status_code=204)
    def delete_object(repo: str, branch: str, path: str) -> Response:
        locked(repos.delete_object, repo, branch, path)
        return Response(status_code=204)

    @app.post(f"{API}/repositories/{{repo}}/branches/{{branch}}/objects/delete", status_code=204)
    async def delete_objects(repo: str, branch: str, request: Request) -> Response:
        body = await body_json(request)
        for path in body.get("paths", []):
            locked(repos.delete_object, repo, branch, path)
        return Response(status_code=204)

    @app.get(f"{API}/repositories/{{repo}}/refs/{{ref}}/objects/stat")
    def stat_object(repo: str, ref: str, path: str) -> dict:
        entry = locked(repos.object_entry, repo, ref, path)
        return _object_stats(path, entry, locked(repos.repository, repo)["storage_namespace"])

    @app.api_route(f"{API}/repositories/{{repo}}/refs/{{ref}}/objects", methods=["GET", "HEAD"])
    def get_object(repo: str, ref: str, path: str, request: Request) -> Response:
        entry = locked(repos.object_entry, repo, ref, path)
        data = store.read_blob(entry["checksum"])
        headers = {
            "ETag": f'"{entry["checksum"]}"',
            "Accept-Ranges": "bytes",
            "Content-Type": entry.get("content_type") or "application/octet-stream",
        }
        requested = s3_gateway.byte_range(request.headers.get("range"), len(data))
        if requested is None:
            return Response(data if request.method == "GET" else b"", headers=headers)
        start, end = requested
        if start >= len(data) or start > end:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{len(data)}"})
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        body = data[start : end + 1] if request.method == "GET" else b""
        return Response(body, status_code=206, headers=headers)

    @app.get(f"{API}/repositories/{{repo}}/refs/{{ref}}/objects/ls")
    def list_objects(
        repo: str,
        ref: str,
        prefix: str = "",
        after: str = "",
        amount: int = 100,
        delimiter: str = "",
    ) -> dict:
        tree = locked(repos.read_tree, repo, ref)
        namespace = locked(repos.repository, repo)["storage_namespace"]
        items: dict[str, dict] = {}
        for path in sorted(tree):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix) :]
            if delimiter and delimiter in rest:
                common = prefix + rest.split(delimiter, 1)[0] + delimiter
                items.setdefault(
                    common,
                    {
                        "path": common,
                        "path_type": "common_prefix",
                        "physical_address": "",
                        "checksum": "",
                        "mtime": 0,
                    },
                )
            else:
                items[path] = _object_stats(path, tree[path], namespace)
        return _paginate(list(items.values()), "path", after, amount)

    # --- a page for people ----------------------------------------------------------------

    @app.get("/browse/{repo}/{ref}/", response_class=HTMLResponse)
    def browse(repo: str, ref: str, prefix: str = "") -> str:
        tree = locked(repos.read_tree, repo, ref)
        commits = locked(repos.log, repo, ref)[:20]
        rows = "".join(
            f"<tr><td>{html.escape(p)}</td><td>{e['size_bytes']}</td></tr>"
            for p, e in sorted(tree.items())
            if p.startswith(prefix)
        )
        log_rows = "".join(
            f"<tr><td><code>{c['id'][:12]}</code></td><td>{html.escape(c['message'])}</td>"
            f"<td>{html.escape(json.dumps(c['metadata']))}</td></tr>"
            for c in commits
        )
        return (
            f"<!doctype html><meta charset='utf-8'><title>{html.escape(repo)}@"
            f"{html.escape(ref)}</title><h1>{html.escape(repo)} @ {html.escape(ref)}</h1>"
            f"<h2>Commits</h2><table>{log_rows}</table>"
            f"<h2>Objects</h2><table>{rows}</table>"
        )

    s3_gateway.add_routes(app, store, repos, locked, access_key_id, secret_access_key)
    return app
