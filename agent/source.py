"""The agent's only door to Git (the one agent module importing gitpython).

One way only: the agent fetches its own ``fleet/bundles/<cluster>`` branch — shallow, one ref,
never the fleet repo's main or another cluster's branch — and pushes to its own
``fleet/reports/<cluster>`` branch and heartbeat ref. Nothing ever connects to the agent.

A fetched bundle is accepted only if (1) its files verify against the bundle index (the
verifier is injected; by default the wire contract's) and (2) its commit descends from the last
bundle commit this agent accepted. A hub branch that was rewritten (force-pushed to unrelated
history) is refused and the last good bundle stays in force. Descent is proved on a shallow
clone by deepening the fetch step by step up to a bound; a branch whose history cannot be
followed back within the bound is refused too, with a message that says so.

The local clone lives in a cache directory of the agent's own (``--state-dir``).

Credentials (an HTTPS token or an SSH key, fleetsync_contract/gitauth.py) reach git only through
the environment of this door's gitpython calls; a password in ``--repo`` is taken out of the URL
before git sees it, and every message this door makes goes through ``redact``, because a
``SourceError``'s text ends up in the agent's log and in its report.

No fetch or push can hang the agent: each is one git process in its own process group with a
wall-clock deadline (``timeout``, default ``GIT_TIMEOUT_SECONDS``, ``--git-timeout``), plus git's
HTTP low-speed limits in its environment (``remote_env``). On expiry the whole group is killed
and a ``SourceError`` names the remote and the deadline; the loop keeps the last good bundle and
goes on with its pass.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import git
from git.exc import GitCommandError
from git.objects import Blob
from gitdb.base import IStream

from agent.errors import BundleRefused, SourceError
from fleetsync_contract import BUNDLE_REF_PREFIX, HEARTBEAT_REF_PREFIX, REPORT_REF_PREFIX
from fleetsync_contract.gitauth import (
    GIT_TIMEOUT_SECONDS,
    NO_CREDENTIALS,
    GitCredentials,
    remote_env,
    with_url,
)

Verifier = Callable[[Mapping[str, bytes]], list[str]]

MAX_DEEPEN = 512
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
MAX_REPORT_BYTES = 64 * 1024 * 1024  # the last report read back at start (agent/loop.py)


@dataclass(frozen=True, slots=True)
class FetchedBundle:
    commit: str
    files: Mapping[str, bytes]


def _no_verify(files: Mapping[str, bytes]) -> list[str]:
    return []


def _git_env() -> dict[str, str]:
    # Never prompt for credentials in a daemon; never read the operator's global config.
    return {"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"}


class GitSource:
    """Fetches one cluster's bundle and writes that cluster's reports."""

    def __init__(
        self,
        url: str,
        cluster: str,
        state_dir: Path,
        verify: Verifier = _no_verify,
        credentials: GitCredentials = NO_CREDENTIALS,
        timeout: float = GIT_TIMEOUT_SECONDS,
    ):
        self.url, self._auth = with_url(url, credentials)
        self.timeout = timeout
        self.cluster = cluster
        self.verify = verify
        self.path = state_dir / "source.git"
        self.bundle_ref = BUNDLE_REF_PREFIX + cluster
        self.report_ref = REPORT_REF_PREFIX + cluster
        self.heartbeat_ref = HEARTBEAT_REF_PREFIX + cluster
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            repo = git.Repo.init(self.path, bare=True)
            repo.close()
        self._repo = git.Repo(self.path)
        self._repo.git.update_environment(**{**_git_env(), **remote_env(self._auth)})

    def close(self) -> None:
        self._repo.close()

    def __enter__(self) -> GitSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _error(self, what: str, e: GitCommandError) -> SourceError:
        """``what: git's last line``, credentials masked (the text reaches logs and the report)."""
        return SourceError(self._auth.redact(f"{what}: {_stderr(e)}"))

    # -- bundles ----------------------------------------------------------------------------
    def fetch_bundle(self, last_accepted: str | None) -> FetchedBundle | None:
        """The newest bundle, verified and descending from ``last_accepted``; None if no branch yet.

        Raises SourceError when the remote cannot be reached and BundleRefused when the bundle
        must not be applied; either way the caller keeps enforcing the last good bundle.
        """
        local = f"refs/remotes/hub/{self.cluster}"
        try:
            self._remote(
                f"cannot fetch {self.bundle_ref} from {self.url}",
                "fetch",
                "--depth=1",
                "--no-tags",
                self.url,
                f"+refs/heads/{self.bundle_ref}:{local}",
            )
        except GitCommandError as e:
            if "couldn't find remote ref" in (e.stderr or ""):
                return None
            raise self._error(f"cannot fetch {self.bundle_ref} from the fleet repo", e) from e
        tip = self._repo.git.rev_parse(local)
        if last_accepted and tip != last_accepted:
            self._prove_descent(last_accepted, tip)
        files = self._read_tree(tip)
        problems = self.verify(files)
        if problems:
            raise BundleRefused(f"bundle {tip[:12]} failed verification: " + "; ".join(problems[:5]))
        return FetchedBundle(tip, files)

    def local_bundle(self, commit: str) -> FetchedBundle | None:
        """The bundle at ``commit`` from the local clone, verified again; None if the clone lacks it.

        What a restarted agent enforces while the remote is unreachable: the clone in the state
        directory still holds the last commit it accepted. Raises BundleRefused when it no longer
        verifies (a damaged cache is never applied)."""
        if not commit or not self._has(commit):
            return None
        files = self._read_tree(commit)
        problems = self.verify(files)
        if problems:
            raise BundleRefused(
                f"cached bundle {commit[:12]} failed verification: " + "; ".join(problems[:5])
            )
        return FetchedBundle(commit, files)

    def _is_ancestor(self, older: str, newer: str) -> bool:
        try:
            self._repo.git.merge_base("--is-ancestor", older, newer)
        except GitCommandError:
            return False
        return True

    def _has(self, commit: str) -> bool:
        try:
            self._repo.git.cat_file("-e", f"{commit}^{{commit}}")
        except GitCommandError:
            return False
        return True

    def _shallow(self, tip: str) -> bool:
        """True while ``tip``'s history ends at a shallow boundary (more of it can be fetched).

        The clone's ``shallow`` file also keeps boundaries of histories fetched earlier (the
        last applied bundle's, before a rewrite), so only boundaries reachable from ``tip`` count.
        """
        marker = self.path / "shallow"
        boundaries = set(marker.read_text().split()) if marker.exists() else set()
        if not boundaries:
            return False
        reachable = set(self._repo.git.rev_list(tip).split())
        return bool(boundaries & reachable)

    def _prove_descent(self, last: str, tip: str) -> None:
        depth = 1
        while not (self._has(last) and self._is_ancestor(last, tip)):
            if not self._shallow(tip):
                raise BundleRefused(
                    f"the hub branch {self.bundle_ref} was rewritten: {tip[:12]} does not descend from the "
                    f"last applied bundle {last[:12]}; keeping the last good bundle"
                )
            if depth >= MAX_DEEPEN:
                raise BundleRefused(
                    f"cannot prove that bundle {tip[:12]} descends from the last applied bundle {last[:12]} "
                    f"within {MAX_DEEPEN} commits; refusing it"
                )
            depth *= 2
            try:
                self._remote(
                    f"cannot deepen {self.bundle_ref} from {self.url}",
                    "fetch",
                    f"--deepen={depth}",
                    "--no-tags",
                    self.url,
                    f"refs/heads/{self.bundle_ref}",
                )
            except GitCommandError as e:
                raise self._error(f"cannot deepen {self.bundle_ref}", e) from e

    def _read_tree(self, commit: str) -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        total = 0
        tree = self._repo.commit(commit).tree
        for blob in tree.traverse():
            if not isinstance(blob, git.Blob):
                continue
            if blob.mode == 0o120000:
                raise BundleRefused(f"bundle {commit[:12]} contains a symlink: {blob.path}")
            total += blob.size
            if total > MAX_BUNDLE_BYTES:
                raise BundleRefused(f"bundle {commit[:12]} is larger than {MAX_BUNDLE_BYTES} bytes")
            files[str(blob.path)] = blob.data_stream.read()
        return files

    # -- reports ----------------------------------------------------------------------------
    def push_report(self, files: Mapping[str, bytes], message: str, author: str) -> str | None:
        """Commit ``files`` as the whole report tree on top of the remote report branch; push.

        Returns the new commit, or None when nothing changed (no commit is made)."""
        local = f"refs/remotes/hub/report-{self.cluster}"
        parent: str | None = None
        try:
            self._remote(
                f"cannot fetch {self.report_ref} from {self.url}",
                "fetch",
                "--depth=1",
                "--no-tags",
                self.url,
                f"+refs/heads/{self.report_ref}:{local}",
            )
            parent = self._repo.git.rev_parse(local)
        except GitCommandError as e:
            if "couldn't find remote ref" not in (e.stderr or ""):
                raise self._error(f"cannot fetch {self.report_ref}", e) from e
        tree = self._write_tree(files)
        if parent and self._repo.git.rev_parse(f"{parent}^{{tree}}") == tree:
            return None
        commit = self._commit(tree, parent, message, author)
        lease = f"--force-with-lease=refs/heads/{self.report_ref}:{parent or ''}"
        try:
            self._remote(
                f"cannot push {self.report_ref} to {self.url}",
                "push",
                self.url,
                lease,
                f"{commit}:refs/heads/{self.report_ref}",
            )
        except GitCommandError as e:
            raise self._error(f"cannot push {self.report_ref}", e) from e
        return commit

    def last_report(self, max_bytes: int = MAX_REPORT_BYTES) -> dict[str, bytes] | None:
        """The files at the tip of this cluster's report branch (what a restarted agent carries its
        times over from); None when there is no report yet. SourceError when the remote cannot be
        read; ValueError when the tree holds more than ``max_bytes`` (it is not read)."""
        local = f"refs/remotes/hub/report-{self.cluster}"
        try:
            self._remote(
                f"cannot fetch {self.report_ref} from {self.url}",
                "fetch",
                "--depth=1",
                "--no-tags",
                self.url,
                f"+refs/heads/{self.report_ref}:{local}",
            )
        except GitCommandError as e:
            if "couldn't find remote ref" in (e.stderr or ""):
                return None
            raise self._error(f"cannot fetch {self.report_ref}", e) from e
        tip = self._repo.commit(self._repo.git.rev_parse(local))
        blobs = [b for b in tip.tree.traverse() if isinstance(b, git.Blob) and b.mode != 0o120000]
        if sum(b.size for b in blobs) > max_bytes:
            raise ValueError(f"the report at {tip.hexsha[:12]} is larger than {max_bytes} bytes")
        return {str(b.path): b.data_stream.read() for b in blobs}

    def beat(self, files: Mapping[str, bytes], message: str, author: str) -> str:
        """Move the heartbeat ref to a new parentless commit, so beats never grow history."""
        commit = self._commit(self._write_tree(files), None, message, author)
        try:
            self._remote(
                f"cannot push {self.heartbeat_ref} to {self.url}",
                "push",
                "--force",
                self.url,
                f"{commit}:{self.heartbeat_ref}",
            )
        except GitCommandError as e:
            raise self._error(f"cannot push {self.heartbeat_ref}", e) from e
        return commit

    def _remote(self, what: str, *args: str) -> None:
        """``git ARGS`` against the fleet repo, in its own process group, killed as a group after
        ``self.timeout`` seconds: then a SourceError ``what: no answer within N s`` (redacted).
        A non-zero exit is a GitCommandError, as gitpython raises it."""
        env = {**os.environ, "LANGUAGE": "C", "LC_ALL": "C", **self._repo.git.environment()}
        argv = ["git", *args]
        proc = subprocess.Popen(
            argv,
            cwd=self.path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own group: git-remote-http and ssh die with it
        )
        try:
            _, err = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise SourceError(
                self._auth.redact(f"{what}: no answer within {self.timeout:g} s (--git-timeout)")
            ) from None
        except BaseException:  # a stop (KeyboardInterrupt) must not leave git running
            _kill_group(proc)
            raise
        if proc.returncode != 0:
            raise GitCommandError(argv, proc.returncode, err.decode(errors="replace").rstrip("\n"))

    def _write_tree(self, files: Mapping[str, bytes]) -> str:
        # One index per call: a heartbeat and a report may be written at once from two threads.
        index = self.path / f"report-index-{os.getpid()}-{threading.get_ident()}"
        env = {"GIT_INDEX_FILE": str(index)}
        try:
            self._repo.git.read_tree("--empty", env=env)
            for path in sorted(files):
                data = files[path]
                blob = self._repo.odb.store(IStream(Blob.type, len(data), io.BytesIO(data))).hexsha.decode()
                self._repo.git.update_index("--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
            return str(self._repo.git.write_tree(env=env))
        finally:
            index.unlink(missing_ok=True)

    def _commit(self, tree: str, parent: str | None, message: str, author: str) -> str:
        env = {
            "GIT_AUTHOR_NAME": author,
            "GIT_AUTHOR_EMAIL": f"{author}@fleetsync.invalid",
            "GIT_COMMITTER_NAME": author,
            "GIT_COMMITTER_EMAIL": f"{author}@fleetsync.invalid",
        }
        args = [tree, "-m", message]
        if parent:
            args[1:1] = ["-p", parent]
        return str(self._repo.git.commit_tree(*args, env=env))


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL ``proc``'s whole process group (it leads one), then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def _stderr(e: GitCommandError) -> str:
    text = (e.stderr or str(e)).strip()
    line = text.splitlines()[-1] if text else "git failed"
    if "Authentication failed" in line or "could not read Username" in line:
        line += " (give the agent credentials: docs/operations.md, 'Git credentials')"
    return line
