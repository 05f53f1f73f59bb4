"""The S3-gateway subset ``deltalake``'s ``lakefs://`` mode needs, over ``Repositories``.

lakeFS exposes each repository as an S3 bucket whose keys start with a ref:
``s3://<repo>/<ref>/<path>``. delta-rs's lakeFS backend reads and writes table files
through that gateway (path-style, SigV4-signed) and drives its transaction branches
through the REST API. Served here: GetObject and HeadObject (with Range), PutObject
(with ``If-None-Match: *``, the conditional write Delta commits rely on), multipart
uploads (delta-rs sends large Parquet files that way), DeleteObject, DeleteObjects and
ListObjectsV2. Every request must carry a valid AWS Signature Version 4 made with
the stand-in's key pair.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, quote
from xml.sax.saxutils import escape, unescape

from fastapi import FastAPI, Request, Response

from nightjar.embedded.lakefs_standin.errors import LakeFSError
from nightjar.embedded.lakefs_standin.repository import Repositories
from nightjar.embedded.lakefs_standin.store import Store

_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<scope>[^,]+), ?"
    r"SignedHeaders=(?P<headers>[^,]+), ?Signature=(?P<signature>[0-9a-f]{64})$"
)
_S3_CODES = {
    400: "InvalidRequest",
    403: "AccessDenied",
    404: "NoSuchKey",
    409: "Conflict",
    412: "PreconditionFailed",
}
_MAX_KEYS = 1000
_DELETE_KEY = re.compile(r"<Key>([^<]*)</Key>")
_PART_NUMBER = re.compile(r"<PartNumber>(\d+)</PartNumber>")
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


def _error(status: int, message: str, code: str | None = None) -> Response:
    code = code or _S3_CODES.get(status, "InternalError")
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message></Error>"
    )
    return Response(body, status_code=status, media_type="application/xml")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _canonical_query(raw_query: bytes) -> str:
    pairs = parse_qsl(raw_query.decode(), keep_blank_values=True)
    encoded = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def signature_problem(request: Request, body: bytes, access_key_id: str, secret: str) -> str:
    """Why the request's SigV4 signature is not valid for the key pair; '' when it is."""
    match = _AUTHORIZATION.match(request.headers.get("authorization", ""))
    if not match:
        return "missing or malformed AWS4-HMAC-SHA256 authorization"
    if not hmac.compare_digest(match["key"], access_key_id):
        return "unknown access key id"
    payload_hash = request.headers.get("x-amz-content-sha256", "")
    if payload_hash != "UNSIGNED-PAYLOAD" and payload_hash != hashlib.sha256(body).hexdigest():
        return "x-amz-content-sha256 does not match the body"
    signed = match["headers"].split(";")
    headers = "".join(
        f"{name}:{' '.join(request.headers.get(name, '').split())}\n" for name in signed
    )
    canonical = "\n".join(
        [
            request.method,
            request.scope["raw_path"].decode(),
            _canonical_query(request.scope.get("query_string", b"")),
            headers,
            match["headers"],
            payload_hash,
        ]
    )
    amz_date = request.headers.get("x-amz-date", "")
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            match["scope"],
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    day, region, service, terminal = match["scope"].split("/")
    key = _hmac(f"AWS4{secret}".encode(), day)
    for part in (region, service, terminal):
        key = _hmac(key, part)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, match["signature"]):
        return "signature does not match"
    return ""


def _http_date(mtime: int) -> str:
    return dt.datetime.fromtimestamp(mtime, dt.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def _iso_date(mtime: int) -> str:
    return dt.datetime.fromtimestamp(mtime, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end)`` inclusive for a ``bytes=`` range, None for the whole object."""
    if not header or not header.startswith("bytes="):
        return None
    start_text, _, end_text = header[6:].partition("-")
    if start_text:
        return int(start_text), min(int(end_text), size - 1) if end_text else size - 1
    return max(size - int(end_text), 0), size - 1


def _xml(root: str, body: str) -> Response:
    return Response(
        f'<?xml version="1.0" encoding="UTF-8"?><{root} '
        f'xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{body}</{root}>',
        media_type="application/xml",
    )


class MultipartUploads:
    """Parts of unfinished multipart uploads, on disk until completed or aborted."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def create(self) -> str:
        """Start a multipart upload; return its id."""
        upload_id = secrets.token_hex(16)
        (self.root / upload_id).mkdir(parents=True)
        return upload_id

    def _folder(self, upload_id: str) -> Path:
        if not _UPLOAD_ID.match(upload_id) or not (self.root / upload_id).is_dir():
            raise LakeFSError(404, f"no such upload {upload_id!r}")
        return self.root / upload_id

    def put_part(self, upload_id: str, number: int, data: bytes) -> str:
        """Store one part; return its ETag (the MD5 S3 clients expect)."""
        if not 1 <= number <= 10_000:
            raise LakeFSError(400, f"part number {number} is outside 1..10000")
        (self._folder(upload_id) / f"{number:05d}").write_bytes(data)
        return hashlib.md5(data, usedforsecurity=False).hexdigest()

    def assemble(self, upload_id: str, numbers: list[int]) -> bytes:
        """The object the listed parts make, in order; 400 when a part is missing."""
        folder = self._folder(upload_id)
        missing = [n for n in numbers if not (folder / f"{n:05d}").is_file()]
        if missing or not numbers:
            raise LakeFSError(400, f"upload {upload_id} lacks parts {missing or 'all'}")
        return b"".join((folder / f"{n:05d}").read_bytes() for n in numbers)

    def discard(self, upload_id: str) -> None:
        """Forget an upload and its parts."""
        shutil.rmtree(self._folder(upload_id))


def add_routes(
    app: FastAPI,
    store: Store,
    repos: Repositories,
    locked: Callable,
    access_key_id: str,
    secret_access_key: str,
) -> None:
    """Mount the gateway; call last, since its catch-all routes match any other path."""

    async def authorised(request: Request) -> tuple[bytes, Response | None]:
        body = await request.body()
        problem = signature_problem(request, body, access_key_id, secret_access_key)
        return body, _error(403, problem, "SignatureDoesNotMatch") if problem else None

    @app.get("/{repo}")
    async def list_objects_v2(repo: str, request: Request) -> Response:
        _, refused = await authorised(request)
        if refused:
            return refused
        params = request.query_params
        if params.get("list-type") != "2":
            return _error(400, "only ListObjectsV2 (list-type=2) is supported")
        prefix = params.get("prefix", "")
        delimiter = params.get("delimiter", "")
        after = params.get("continuation-token") or params.get("start-after", "")
        max_keys = min(int(params.get("max-keys", _MAX_KEYS)), _MAX_KEYS)
        ref, _, path_prefix = prefix.partition("/")
        try:
            tree = locked(repos.read_tree, repo, ref) if ref else {}
        except LakeFSError as exc:
            return _error(exc.status, exc.message, "NoSuchBucket" if exc.status == 404 else None)
        entries: dict[str, dict | None] = {}
        for path in sorted(tree):
            if not path.startswith(path_prefix):
                continue
            key = f"{ref}/{path}"
            rest = path[len(path_prefix) :]
            if delimiter and delimiter in rest:
                entries.setdefault(prefix + rest.split(delimiter, 1)[0] + delimiter, None)
            else:
                entries[key] = tree[path]
        keys = [k for k in sorted(entries) if k > after] if after else sorted(entries)
        page, truncated = keys[:max_keys], len(keys) > max_keys
        contents = "".join(
            f"<Contents><Key>{escape(k)}</Key><LastModified>{_iso_date(e['mtime'])}"
            f'</LastModified><ETag>"{e["checksum"]}"</ETag><Size>{e["size_bytes"]}</Size>'
            "<StorageClass>STANDARD</StorageClass></Contents>"
            for k in page
            if (e := entries[k]) is not None
        )
        prefixes = "".join(
            f"<CommonPrefixes><Prefix>{escape(k)}</Prefix></CommonPrefixes>"
            for k in page
            if entries[k] is None
        )
        token = f"<NextContinuationToken>{escape(page[-1])}</NextContinuationToken>" if page else ""
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Name>{escape(repo)}</Name><Prefix>{escape(prefix)}</Prefix>"
            f"<KeyCount>{len(page)}</KeyCount><MaxKeys>{max_keys}</MaxKeys>"
            f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
            f"{token if truncated else ''}{contents}{prefixes}</ListBucketResult>"
        )
        return Response(body, media_type="application/xml")

    @app.post("/{repo}")
    async def delete_objects(repo: str, request: Request) -> Response:
        """DeleteObjects (``POST /<repo>?delete``): delta-rs cleans up after a failed commit."""
        body, refused = await authorised(request)
        if refused:
            return refused
        if "delete" not in request.query_params:
            return _error(400, "only DeleteObjects (?delete) is supported on a bucket")
        # Only the keys matter; a regex reads them without an XML parser's attack surface.
        keys = [unescape(key) for key in _DELETE_KEY.findall(body.decode(errors="replace"))]
        results = []
        for key in keys:
            ref, _, path = key.partition("/")
            try:
                locked(repos.delete_object, repo, ref, path)
                results.append(f"<Deleted><Key>{escape(key)}</Key></Deleted>")
            except LakeFSError as exc:
                code = _S3_CODES.get(exc.status, "InternalError")
                results.append(
                    f"<Error><Key>{escape(key)}</Key><Code>{code}</Code>"
                    f"<Message>{escape(exc.message)}</Message></Error>"
                )
        return Response(
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"{''.join(results)}</DeleteResult>",
            media_type="application/xml",
        )

    uploads = MultipartUploads(store.data_dir / "multipart")

    def stage(repo: str, ref: str, path: str, data: bytes, request: Request) -> dict:
        return locked(
            repos.stage_object,
            repo,
            ref,
            path,
            data,
            content_type=request.headers.get("content-type"),
            metadata={},
            if_none_match=request.headers.get("if-none-match") == "*",
        )

    def multipart(repo: str, ref: str, path: str, body: bytes, request: Request) -> Response:
        """CreateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload."""
        params = request.query_params
        key = escape(f"{ref}/{path}")
        if request.method == "POST" and "uploads" in params:
            locked(repos.resolve, repo, ref)  # fail now, not at completion, on a bad ref
            upload = uploads.create()
            return _xml(
                "InitiateMultipartUploadResult",
                f"<Bucket>{escape(repo)}</Bucket><Key>{key}</Key><UploadId>{upload}</UploadId>",
            )
        upload = params.get("uploadId", "")
        if request.method == "PUT":
            etag = uploads.put_part(upload, int(params.get("partNumber", "0")), body)
            return Response(status_code=200, headers={"ETag": f'"{etag}"'})
        if request.method == "DELETE":
            uploads.discard(upload)
            return Response(status_code=204)
        numbers = [int(n) for n in _PART_NUMBER.findall(body.decode(errors="replace"))]
        entry = stage(repo, ref, path, uploads.assemble(upload, numbers), request)
        uploads.discard(upload)
        return _xml(
            "CompleteMultipartUploadResult",
            f'<Bucket>{escape(repo)}</Bucket><Key>{key}</Key><ETag>"{entry["checksum"]}"</ETag>',
        )

    @app.api_route("/{repo}/{ref}/{path:path}", methods=["GET", "HEAD", "PUT", "POST", "DELETE"])
    async def object_route(repo: str, ref: str, path: str, request: Request) -> Response:
        body, refused = await authorised(request)
        if refused:
            return refused
        try:
            params = request.query_params
            if "uploads" in params or "uploadId" in params:
                return multipart(repo, ref, path, body, request)
            if request.method == "POST":
                return _error(400, "POST on an object is only for multipart uploads")
            if request.method == "PUT":
                if request.headers.get("x-amz-copy-source"):
                    return _error(501, "CopyObject is not supported", "NotImplemented")
                entry = stage(repo, ref, path, body, request)
                return Response(status_code=200, headers={"ETag": f'"{entry["checksum"]}"'})
            if request.method == "DELETE":
                locked(repos.delete_object, repo, ref, path)
                return Response(status_code=204)
            entry = locked(repos.object_entry, repo, ref, path)
        except LakeFSError as exc:
            return _error(exc.status, exc.message)
        except ValueError as exc:
            return _error(400, str(exc))
        headers = {
            "ETag": f'"{entry["checksum"]}"',
            "Last-Modified": _http_date(entry["mtime"]),
            "Accept-Ranges": "bytes",
            "Content-Type": entry.get("content_type") or "application/octet-stream",
        }
        size = entry["size_bytes"]
        requested = byte_range(request.headers.get("range"), size)
        if requested is None:
            headers["Content-Length"] = str(size)
            data = store.read_blob(entry["checksum"]) if request.method == "GET" else b""
            return Response(data, headers=headers)
        start, end = requested
        if start >= size or start > end:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(end - start + 1)
        data = store.read_blob(entry["checksum"])[start : end + 1]
        return Response(data if request.method == "GET" else b"", status_code=206, headers=headers)
