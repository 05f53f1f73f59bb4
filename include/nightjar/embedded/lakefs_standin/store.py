"""Persistence: SQLite for refs and metadata, content-addressed files for data and trees.

A commit points at a tree: a JSON map ``path -> entry`` stored by the hash of its content
(lakeFS's meta-range, simplified to one file). Object bytes are stored by their SHA-256.
Files are written to a temporary name and renamed, so a crash never leaves half a blob.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

Tree = dict[str, dict[str, Any]]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS repositories (
    name TEXT PRIMARY KEY, storage_namespace TEXT NOT NULL, default_branch TEXT NOT NULL,
    creation_date INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS commits (
    repo TEXT NOT NULL, id TEXT NOT NULL, parents TEXT NOT NULL, committer TEXT NOT NULL,
    message TEXT NOT NULL, creation_date INTEGER NOT NULL, metadata TEXT NOT NULL,
    tree TEXT NOT NULL, generation INTEGER NOT NULL, PRIMARY KEY (repo, id));
CREATE TABLE IF NOT EXISTS branches (
    repo TEXT NOT NULL, name TEXT NOT NULL, head TEXT NOT NULL, PRIMARY KEY (repo, name));
CREATE TABLE IF NOT EXISTS staging (
    repo TEXT NOT NULL, branch TEXT NOT NULL, path TEXT NOT NULL, entry TEXT,
    PRIMARY KEY (repo, branch, path));
CREATE TABLE IF NOT EXISTS tags (
    repo TEXT NOT NULL, name TEXT NOT NULL, commit_id TEXT NOT NULL, PRIMARY KEY (repo, name));
CREATE TABLE IF NOT EXISTS protection (repo TEXT PRIMARY KEY, rules TEXT NOT NULL);
"""


def _atomic_write(path: Path, data: bytes) -> None:
    if path.exists():
        return  # content-addressed: same name, same bytes
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Store:
    """All state of the stand-in; every public method runs under one lock."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.db = sqlite3.connect(
            self.data_dir / "refs.sqlite", check_same_thread=False, isolation_level=None
        )
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)
        self._tree_cache = lru_cache(maxsize=256)(self._load_tree)

    # --- blobs and trees ------------------------------------------------------------------

    def _blob_path(self, digest: str) -> Path:
        return self.data_dir / "blobs" / digest[:2] / digest[2:]

    def put_blob(self, data: bytes) -> str:
        """Store object bytes by content address; return the address."""
        digest = hashlib.sha256(data).hexdigest()
        _atomic_write(self._blob_path(digest), data)
        return digest

    def read_blob(self, digest: str) -> bytes:
        """The bytes stored at an address."""
        return self._blob_path(digest).read_bytes()

    def put_tree(self, tree: Tree) -> str:
        """Store a committed tree (immutable); return its id."""
        payload = json.dumps(tree, sort_keys=True, separators=(",", ":")).encode()
        digest = hashlib.sha256(payload).hexdigest()
        _atomic_write(self.data_dir / "trees" / f"{digest}.json", payload)
        return digest

    def _load_tree(self, digest: str) -> Tree:
        return json.loads((self.data_dir / "trees" / f"{digest}.json").read_bytes())

    def tree(self, digest: str) -> Tree:
        """A committed tree by id."""
        return dict(self._tree_cache(digest))

    # --- rows -----------------------------------------------------------------------------

    def one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        """One row of a query, or None."""
        cursor = self.db.execute(sql, args)
        cursor.row_factory = sqlite3.Row
        return cursor.fetchone()

    def all(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        """Every row of a query."""
        cursor = self.db.execute(sql, args)
        cursor.row_factory = sqlite3.Row
        return cursor.fetchall()

    def run(self, sql: str, *args: Any) -> None:
        """Run a statement."""
        self.db.execute(sql, args)

    def transaction(self):
        """``with store.transaction():`` - all statements inside commit together."""
        return _Transaction(self.db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
