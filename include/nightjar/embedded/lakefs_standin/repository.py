"""lakeFS semantics over the store: refs, staging, commits, merges, reverts, tags.

Behaviour follows lakeFS (see ``shared/reference/lakefs-semantics.md`` in the design
notes): branches start from the source's committed head; a branch read sees committed
plus staged data while diff, merge, log and branching see committed data only; commits
with nothing staged and merges with nothing to merge are refused; merges are three-way
at object granularity against the merge base and always create a merge commit.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from nightjar.embedded.lakefs_standin.errors import (
    LakeFSError,
    bad_request,
    conflict,
    forbidden,
    not_found,
)
from nightjar.embedded.lakefs_standin.store import Store, Tree

REPOSITORY_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$")
BRANCH_NAME = re.compile(r"^\w[-\w]*$", re.ASCII)
COMMIT_ID = re.compile(r"^[0-9a-f]{64}$")
_MODIFIER = re.compile(r"^(?P<base>.*?)(?P<mods>(?:[~^]\d*)*)(?P<suffix>[@$]?)$")
COMMITTER = "nightjar-standin"
STRATEGIES = ("", "dest-wins", "source-wins")


@dataclass(frozen=True)
class Resolved:
    """A ref resolved to a commit, and to a branch when reads should include staging."""

    commit_id: str
    branch: str | None = None


def _valid_tag(name: str) -> bool:
    return (
        bool(name)
        and "/" not in name
        and ".." not in name
        and not re.search(r"\s", name)
        and not name.endswith(".lock")
    )


class Repositories:
    """lakeFS's version-control semantics over the store: repositories, branches, commits,
    merges, tags."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # --- repositories ---------------------------------------------------------------------

    def create_repository(self, name: str, storage_namespace: str, default_branch: str) -> dict:
        """Create a repository with its default branch and an empty first commit."""
        if not REPOSITORY_NAME.match(name or ""):
            raise bad_request(f"repository name {name!r}: invalid value")
        if not BRANCH_NAME.match(default_branch or ""):
            raise bad_request(f"branch name {default_branch!r}: invalid value")
        with self.store.transaction():
            if self.store.one("SELECT 1 FROM repositories WHERE name=?", name):
                raise conflict(f"repository {name}: not unique")
            now = int(time.time())
            self.store.run(
                "INSERT INTO repositories VALUES (?,?,?,?)",
                name,
                storage_namespace,
                default_branch,
                now,
            )
            commit_id = self._new_commit(
                name, [], self.store.put_tree({}), "Repository created", {}
            )
            self.store.run("INSERT INTO branches VALUES (?,?,?)", name, default_branch, commit_id)
        return self.repository(name)

    def repository(self, name: str) -> dict:
        """A repository as lakeFS describes it; 404 when absent."""
        row = self.store.one("SELECT * FROM repositories WHERE name=?", name)
        if row is None:
            raise not_found(f"repository {name}")
        return {
            "id": row["name"],
            "creation_date": row["creation_date"],
            "default_branch": row["default_branch"],
            "storage_namespace": row["storage_namespace"],
            "storage_id": "",
            "read_only": False,
        }

    def repositories(self) -> list[dict]:
        """Every repository, by name."""
        return [
            self.repository(r["name"])
            for r in self.store.all("SELECT name FROM repositories ORDER BY name")
        ]

    def delete_repository(self, name: str) -> None:
        """Delete a repository and everything in it."""
        self.repository(name)
        with self.store.transaction():
            for table in ("commits", "branches", "staging", "tags"):
                self.store.run(f"DELETE FROM {table} WHERE repo=?", name)
            self.store.run("DELETE FROM protection WHERE repo=?", name)
            self.store.run("DELETE FROM repositories WHERE name=?", name)

    # --- commits and refs -----------------------------------------------------------------

    def _new_commit(
        self, repo: str, parents: list[str], tree_id: str, message: str, metadata: dict[str, str]
    ) -> str:
        generation = 1 + max((self.commit(repo, p)["generation"] for p in parents), default=0)
        # Opaque like lakeFS's: a hash over the content and a random salt.
        seed = json.dumps([repo, parents, tree_id, message, metadata, secrets.token_hex(16)])
        commit_id = hashlib.sha256(seed.encode()).hexdigest()
        self.store.run(
            "INSERT INTO commits VALUES (?,?,?,?,?,?,?,?,?)",
            repo,
            commit_id,
            json.dumps(parents),
            COMMITTER,
            message,
            int(time.time()),
            json.dumps(metadata),
            tree_id,
            generation,
        )
        return commit_id

    def commit(self, repo: str, commit_id: str) -> dict:
        """A commit as lakeFS describes it; 404 when absent."""
        row = self.store.one("SELECT * FROM commits WHERE repo=? AND id=?", repo, commit_id)
        if row is None:
            raise not_found(f"commit {commit_id}")
        return {
            "id": row["id"],
            "parents": json.loads(row["parents"]),
            "committer": row["committer"],
            "message": row["message"],
            "creation_date": row["creation_date"],
            "meta_range_id": row["tree"],
            "metadata": json.loads(row["metadata"]),
            "generation": row["generation"],
            "version": 1,
        }

    def _branch_head(self, repo: str, branch: str) -> str | None:
        row = self.store.one("SELECT head FROM branches WHERE repo=? AND name=?", repo, branch)
        return row["head"] if row else None

    def resolve(self, repo: str, ref: str) -> Resolved:
        """Full commit id, then branch, then tag, then unique commit-id prefix; modifiers
        ``~N`` (first-parent ancestor), ``^N`` (N-th parent), ``@`` and ``$``."""
        self.repository(repo)
        match = _MODIFIER.match(ref or "")
        if not match or not match["base"]:
            raise not_found(f"ref {ref!r}")
        resolved = self._resolve_base(repo, match["base"])
        for modifier in re.findall(r"[~^]\d*", match["mods"]):
            count = int(modifier[1:] or 1)
            parents = self.commit(repo, resolved.commit_id)["parents"]
            if modifier[0] == "~":
                commit_id = resolved.commit_id
                for _ in range(count):
                    parents = self.commit(repo, commit_id)["parents"]
                    if not parents:
                        raise not_found(f"ref {ref!r}")
                    commit_id = parents[0]
            else:
                if count == 0 or count > len(parents):
                    raise not_found(f"ref {ref!r}")
                commit_id = parents[count - 1]
            resolved = Resolved(commit_id)
        if match["suffix"] == "@":
            resolved = Resolved(resolved.commit_id)
        return resolved

    def _resolve_base(self, repo: str, name: str) -> Resolved:
        if COMMIT_ID.match(name) and self.store.one(
            "SELECT 1 FROM commits WHERE repo=? AND id=?", repo, name
        ):
            return Resolved(name)
        head = self._branch_head(repo, name)
        if head is not None:
            return Resolved(head, branch=name)
        tag = self.store.one("SELECT commit_id FROM tags WHERE repo=? AND name=?", repo, name)
        if tag is not None:
            return Resolved(tag["commit_id"])
        if re.fullmatch(r"[0-9a-f]{4,63}", name):
            rows = self.store.all(
                "SELECT id FROM commits WHERE repo=? AND id LIKE ?", repo, f"{name}%"
            )
            if len(rows) == 1:
                return Resolved(rows[0]["id"])
        raise not_found(f"ref {name!r}")

    def committed_tree(self, repo: str, commit_id: str) -> Tree:
        """The objects of a commit, path to entry."""
        return self.store.tree(self.commit(repo, commit_id)["meta_range_id"])

    def staged(self, repo: str, branch: str) -> dict[str, dict | None]:
        """A branch's uncommitted changes, path to entry (None: deleted)."""
        rows = self.store.all(
            "SELECT path, entry FROM staging WHERE repo=? AND branch=?", repo, branch
        )
        return {r["path"]: (json.loads(r["entry"]) if r["entry"] else None) for r in rows}

    def read_tree(self, repo: str, ref: str) -> Tree:
        """What a read of ``ref`` sees: committed data, plus staging for a branch."""
        resolved = self.resolve(repo, ref)
        tree = self.committed_tree(repo, resolved.commit_id)
        if resolved.branch is not None and not ref.endswith("@"):
            for path, entry in self.staged(repo, resolved.branch).items():
                if entry is None:
                    tree.pop(path, None)
                else:
                    tree[path] = entry
        return tree

    def log(self, repo: str, ref: str) -> list[dict]:
        """Commits reachable from ``ref``, newest generation first."""
        start = self.resolve(repo, ref).commit_id
        seen, queue, commits = {start}, deque([start]), []
        while queue:
            commit = self.commit(repo, queue.popleft())
            commits.append(commit)
            for parent in commit["parents"]:
                if parent not in seen:
                    seen.add(parent)
                    queue.append(parent)
        return sorted(commits, key=lambda c: (-c["generation"], -c["creation_date"], c["id"]))

    # --- branches -------------------------------------------------------------------------

    def branch(self, repo: str, name: str) -> dict:
        """A branch and its head commit; 404 when absent."""
        self.repository(repo)
        head = self._branch_head(repo, name)
        if head is None:
            raise not_found(f"branch {name}")
        return {"id": name, "commit_id": head}

    def branches(self, repo: str) -> list[dict]:
        """Every branch of a repository with its head."""
        self.repository(repo)
        return [
            {"id": r["name"], "commit_id": r["head"]}
            for r in self.store.all(
                "SELECT name, head FROM branches WHERE repo=? ORDER BY name", repo
            )
        ]

    def create_branch(self, repo: str, name: str, source: str) -> str:
        """Create a branch at ``source`` (a branch, tag or commit); return its head."""
        if not BRANCH_NAME.match(name or ""):
            raise bad_request(f"branch name {name!r}: invalid value")
        with self.store.transaction():
            if self._branch_head(repo, name) is not None:
                raise conflict(f"branch {name}: not unique")
            commit_id = self.resolve(repo, source).commit_id  # committed head: no staging
            self.store.run("INSERT INTO branches VALUES (?,?,?)", repo, name, commit_id)
        return commit_id

    def protected(self, repo: str, branch: str) -> bool:
        """Whether a protection rule matches ``branch``: then only a merge may change it."""
        return any(
            fnmatch.fnmatchcase(branch, rule["pattern"]) for rule in self.protection_rules(repo)
        )

    def _writable(self, repo: str, branch: str) -> None:
        self.branch(repo, branch)
        if self.protected(repo, branch):
            raise forbidden(f"branch {branch} is protected: write operations are not allowed")

    def delete_branch(self, repo: str, name: str) -> None:
        """Delete a branch and its uncommitted changes; never the default branch."""
        self.branch(repo, name)
        if name == self.repository(repo)["default_branch"]:
            raise forbidden(f"cannot delete the default branch {name}")
        if self.protected(repo, name):
            raise forbidden(f"branch {name} is protected")
        with self.store.transaction():
            self.store.run("DELETE FROM staging WHERE repo=? AND branch=?", repo, name)
            self.store.run("DELETE FROM branches WHERE repo=? AND name=?", repo, name)

    def reset(self, repo: str, branch: str, kind: str, path: str | None) -> None:
        """Drop a branch's uncommitted changes: all, one object, or a prefix."""
        self._writable(repo, branch)
        if kind == "reset":
            self.store.run("DELETE FROM staging WHERE repo=? AND branch=?", repo, branch)
        elif kind == "object":
            self.store.run(
                "DELETE FROM staging WHERE repo=? AND branch=? AND path=?", repo, branch, path or ""
            )
        elif kind == "common_prefix":
            self.store.run(
                "DELETE FROM staging WHERE repo=? AND branch=? AND substr(path, 1, ?) = ?",
                repo,
                branch,
                len(path or ""),
                path or "",
            )
        else:
            raise bad_request(f"reset type {kind!r}: invalid value")

    # --- objects --------------------------------------------------------------------------

    def stage_object(
        self,
        repo: str,
        branch: str,
        path: str,
        data: bytes,
        *,
        content_type: str | None,
        metadata: dict[str, str],
        if_none_match: bool,
    ) -> dict:
        """Stage an object write on a branch."""
        if not path:
            raise bad_request("path: invalid value")
        self._writable(repo, branch)
        if if_none_match and path in self.read_tree(repo, branch):
            raise LakeFSError(412, f"object {path} already exists")
        digest = self.store.put_blob(data)
        entry = {
            "checksum": digest,
            "size_bytes": len(data),
            "mtime": int(time.time()),
            "content_type": content_type or "application/octet-stream",
            "metadata": metadata,
        }
        self.store.run(
            "INSERT OR REPLACE INTO staging VALUES (?,?,?,?)", repo, branch, path, json.dumps(entry)
        )
        return entry

    def delete_object(self, repo: str, branch: str, path: str) -> None:
        """Stage an object deletion on a branch."""
        self._writable(repo, branch)
        self.store.run("INSERT OR REPLACE INTO staging VALUES (?,?,?,NULL)", repo, branch, path)

    def object_entry(self, repo: str, ref: str, path: str) -> dict:
        """An object's entry at ``ref``; 404 when absent."""
        entry = self.read_tree(repo, ref).get(path)
        if entry is None:
            raise not_found(f"object {path}")
        return entry

    # --- commits, diff, merge, revert -----------------------------------------------------

    def commit_branch(
        self, repo: str, branch: str, message: str, metadata: dict[str, str], allow_empty: bool
    ) -> dict:
        """Commit a branch's staged changes with a message and metadata."""
        self._writable(repo, branch)
        with self.store.transaction():
            staged = self.staged(repo, branch)
            if not staged and not allow_empty:
                raise bad_request("commit: no changes")
            head = self._branch_head(repo, branch)
            tree = self.read_tree(repo, branch)
            commit_id = self._new_commit(repo, [head], self.store.put_tree(tree), message, metadata)
            self.store.run(
                "UPDATE branches SET head=? WHERE repo=? AND name=?", commit_id, repo, branch
            )
            self.store.run("DELETE FROM staging WHERE repo=? AND branch=?", repo, branch)
        return self.commit(repo, commit_id)

    @staticmethod
    def diff_trees(left: Tree, right: Tree) -> list[dict]:
        """Changes that turn ``left`` into ``right``, sorted by path."""
        changes = []
        for path in sorted(set(left) | set(right)):
            before, after = left.get(path), right.get(path)
            if before == after or (
                before
                and after
                and before["checksum"] == after["checksum"]
                and before.get("metadata") == after.get("metadata")
            ):
                continue
            kind = "added" if before is None else "removed" if after is None else "changed"
            size = (after or before)["size_bytes"]
            changes.append({"type": kind, "path": path, "path_type": "object", "size_bytes": size})
        return changes

    def diff_refs(self, repo: str, left: str, right: str) -> list[dict]:
        """Committed data only, like lakeFS."""
        return self.diff_trees(
            self.committed_tree(repo, self.resolve(repo, left).commit_id),
            self.committed_tree(repo, self.resolve(repo, right).commit_id),
        )

    def diff_uncommitted(self, repo: str, branch: str) -> list[dict]:
        """What a branch changed since its head commit."""
        head = self.branch(repo, branch)["commit_id"]
        return self.diff_trees(self.committed_tree(repo, head), self.read_tree(repo, branch))

    def merge_base(self, repo: str, left: str, right: str) -> str | None:
        """The newest commit both refs descend from, or None."""
        ancestors = {c["id"] for c in self.log(repo, left)}
        for commit in self.log(repo, right):
            if commit["id"] in ancestors:
                return commit["id"]
        return None

    @staticmethod
    def _same(a: dict | None, b: dict | None) -> bool:
        if a is None or b is None:
            return a is b
        return a["checksum"] == b["checksum"] and a.get("metadata") == b.get("metadata")

    def three_way(
        self, base: Tree, source: Tree, dest: Tree, strategy: str
    ) -> tuple[Tree, list[str]]:
        """Merge ``source`` into ``dest`` from ``base``; the merged tree and the paths both
        sides changed."""
        merged, conflicts = dict(dest), []
        for path in set(base) | set(source) | set(dest):
            b, s, d = base.get(path), source.get(path), dest.get(path)
            if self._same(s, d) or self._same(s, b):
                continue
            if self._same(d, b) or strategy == "source-wins":
                if s is None:
                    merged.pop(path, None)
                else:
                    merged[path] = s
            elif strategy != "dest-wins":
                conflicts.append(path)
        return merged, sorted(conflicts)

    def merge(
        self,
        repo: str,
        source_ref: str,
        dest_branch: str,
        *,
        message: str | None,
        metadata: dict[str, str],
        strategy: str,
        squash: bool,
        allow_empty: bool,
    ) -> str:
        """Merge a ref into a branch as one commit; 409 naming the conflicting paths."""
        if strategy not in STRATEGIES:
            raise bad_request(f"strategy {strategy!r}: invalid value")
        with self.store.transaction():
            dest_head = self.branch(repo, dest_branch)["commit_id"]
            source_id = self.resolve(repo, source_ref).commit_id  # committed data only
            if self.staged(repo, dest_branch):
                raise bad_request(f"branch {dest_branch} is dirty: uncommitted changes")
            base_id = self.merge_base(repo, source_id, dest_head)
            base = self.committed_tree(repo, base_id) if base_id else {}
            dest = self.committed_tree(repo, dest_head)
            merged, conflicts = self.three_way(
                base, self.committed_tree(repo, source_id), dest, strategy
            )
            if conflicts:
                raise LakeFSError(409, "conflict: " + ", ".join(conflicts[:20]))
            if merged == dest and not allow_empty:
                raise bad_request("no changes")
            parents = [dest_head] if squash else [dest_head, source_id]
            commit_id = self._new_commit(
                repo,
                parents,
                self.store.put_tree(merged),
                message or f"Merge '{source_ref}' into '{dest_branch}'",
                {**metadata, ".lakefs.merge.strategy": strategy or "default"},
            )
            self.store.run(
                "UPDATE branches SET head=? WHERE repo=? AND name=?", commit_id, repo, dest_branch
            )
        return commit_id

    def revert(
        self,
        repo: str,
        branch: str,
        ref: str,
        parent_number: int,
        metadata: dict[str, str],
        allow_empty: bool,
    ) -> None:
        """Undo a commit on a branch as a new commit (``parent`` picks the side of a merge).

        Branch protection does not apply, as in lakeFS 1.84: a revert is allowed on a
        protected branch (Nightjar refuses to revert main itself)."""
        self.branch(repo, branch)  # the branch must exist
        with self.store.transaction():
            if self.staged(repo, branch):
                raise bad_request(f"branch {branch} is dirty: uncommitted changes")
            target = self.commit(repo, self.resolve(repo, ref).commit_id)
            parents = target["parents"]
            if len(parents) > 1 and parent_number < 1:  # lakeFS answers 409 here
                raise LakeFSError(
                    409, "must specify 1-based parent number for reverting merge commit"
                )
            if parent_number > len(parents):
                raise bad_request(f"parent_number {parent_number}: invalid value")
            parent = parents[max(parent_number, 1) - 1] if parents else None
            before = self.committed_tree(repo, parent) if parent else {}
            head = self._branch_head(repo, branch)
            dest = self.committed_tree(repo, head)
            merged, conflicts = self.three_way(
                self.committed_tree(repo, target["id"]), before, dest, ""
            )
            if conflicts:
                raise LakeFSError(409, "conflict: " + ", ".join(conflicts[:20]))
            if merged == dest and not allow_empty:
                raise bad_request("no changes")
            commit_id = self._new_commit(
                repo, [head], self.store.put_tree(merged), f"Revert {ref}", metadata
            )
            self.store.run(
                "UPDATE branches SET head=? WHERE repo=? AND name=?", commit_id, repo, branch
            )

    # --- tags and protection --------------------------------------------------------------

    def create_tag(self, repo: str, name: str, ref: str) -> dict:
        """Create a tag at a ref."""
        if not _valid_tag(name):
            raise bad_request(f"tag {name!r}: invalid value")
        with self.store.transaction():
            commit_id = self.resolve(repo, ref).commit_id
            if self.store.one("SELECT 1 FROM tags WHERE repo=? AND name=?", repo, name):
                raise conflict(f"tag {name}: not unique")
            self.store.run("INSERT INTO tags VALUES (?,?,?)", repo, name, commit_id)
        return {"id": name, "commit_id": commit_id}

    def tag(self, repo: str, name: str) -> dict:
        """A tag and its commit; 404 when absent."""
        self.repository(repo)
        row = self.store.one("SELECT commit_id FROM tags WHERE repo=? AND name=?", repo, name)
        if row is None:
            raise not_found(f"tag {name}")
        return {"id": name, "commit_id": row["commit_id"]}

    def tags(self, repo: str) -> list[dict]:
        """Every tag of a repository."""
        self.repository(repo)
        return [
            {"id": r["name"], "commit_id": r["commit_id"]}
            for r in self.store.all(
                "SELECT name, commit_id FROM tags WHERE repo=? ORDER BY name", repo
            )
        ]

    def delete_tag(self, repo: str, name: str) -> None:
        """Delete a tag."""
        self.tag(repo, name)
        self.store.run("DELETE FROM tags WHERE repo=? AND name=?", repo, name)

    def protection_rules(self, repo: str) -> list[dict[str, Any]]:
        """The repository's branch protection rules."""
        row = self.store.one("SELECT rules FROM protection WHERE repo=?", repo)
        return json.loads(row["rules"]) if row else []

    def set_protection_rules(self, repo: str, rules: list[dict[str, Any]]) -> None:
        """Replace the repository's branch protection rules."""
        self.repository(repo)
        if not all(isinstance(r, dict) and r.get("pattern") for r in rules):
            raise bad_request("branch protection rules need a pattern")
        self.store.run(
            "INSERT OR REPLACE INTO protection VALUES (?,?)",
            repo,
            json.dumps([{"pattern": r["pattern"]} for r in rules]),
        )
