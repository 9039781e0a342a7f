"""The agent's only door to Git (the one agent module importing gitpython).

One way only: the agent fetches its own ``fleet/bundles/<cluster>`` branch — shallow, one ref,
never the fleet repo's main or another cluster's branch (the hub's ``fleet/status`` only to find
its MemberCluster before it has a bundle, below) — and pushes to its own
``fleet/reports/<cluster>`` branch and heartbeat ref. Nothing ever connects to the agent.

A fetched bundle is accepted only if (1) its files verify against the bundle index (the
verifier is injected; by default the wire contract's) and (2) its commit descends from the last
bundle commit this agent accepted. A hub branch that was rewritten (force-pushed to unrelated
history) is refused and the last good bundle stays in force. Descent is proved on a shallow
clone by deepening the fetch step by step up to a bound; a branch whose history cannot be
followed back within the bound is refused too, with a message that says so.

An idle poll costs the Git host one ref advertisement of one ref: every fetch speaks protocol
v2, whose ``ls-refs`` takes the branch's full name as a ``ref-prefix`` (``git ls-remote`` would
list every branch of the fleet: it sends no prefix for its patterns), and once the clone holds
the branch's last tip the fetch is a plain ``git fetch`` that stops after ``ls-refs`` when the tip
is unchanged (git's own check: the wanted commit is already here) and otherwise takes only the
new commits (negotiated against that tip). Only a branch the clone has never held is fetched
shallow (``--depth=1``, always negotiated and packed by the server), and so is the hub's
``fleet/status`` (read only until membership is shown). A branch rewritten under a tip the clone
holds is fetched whole once (within the git timeout), refused as rewritten, and costs ``ls-refs``
only from the next poll on. A report push leaves its commit as the local tip, so the agent's next
push asks ``ls-refs`` only. A bundle already verified at an unchanged tip is not read again.
A report push is two git processes, that fetch and the push: its blobs, trees and commit are
written as loose objects in this process, byte for byte what git's plumbing writes.

The local clone lives in a cache directory of the agent's own (``--state-dir``), one per fleet
and cluster: the CLI gives each cluster name its own directory and the clone inside is named by
the fleet URL (``fleet_key``, so a spelling that names the same repository shares it), so a
wrong ``--repo`` never finds, and never enforces, another fleet's cached bundle.

Every name that reaches git is checked first: the cluster name is a MemberCluster name (DNS-1123
subdomain, ``check_cluster_name``), so it can be neither an option nor a ref trick, and the URL
cannot start with ``-``; every remote call puts ``--`` before it. Before anything is pushed
(``check_member``), the cluster is shown to be a MemberCluster of the fleet: the hub published a
``fleet/bundles/<cluster>`` branch for it (a bundle this source fetched, else ``git ls-remote``),
or, for a member with no bundle yet,
the hub's ``fleet/status`` names it (``clusters/<cluster>.yaml``, docs/formats.md §4); otherwise
``NotAMember`` lists the clusters the fleet has. Before the hub has published anything (agents
deployed with, or before, their hub) there is nothing to check against: the push goes ahead and
the check is made again before the next one. A git failure is reported as git's own reason
(``git_reason``: the ``fatal:``/``error:`` line, not gitpython's last line) plus the fix.

Credentials (an HTTPS token or an SSH key, fleetsync_contract/gitauth.py) reach git only through
the environment of this door's gitpython calls; a password in ``--repo`` is taken out of the URL
before git sees it, and every message this door makes goes through ``redact``, because a
``SourceError``'s text ends up in the agent's log and in its report.

No fetch or push can hang the agent: each is one git process in its own process group with a
wall-clock deadline (``timeout``, default ``GIT_TIMEOUT_SECONDS``, ``--git-timeout``), plus git's
HTTP low-speed limits in its environment (``remote_env``). On expiry the whole group is killed
and a ``SourceError`` names the remote and the deadline; the loop keeps the last good bundle and
goes on with its pass. ``close`` kills the git processes still running (a running agent's fetch
is detached from its pass, agent/loop.py) and starts no new one, so a stop never leaves git behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import git
from git.exc import GitCommandError
from git.refs.symbolic import SymbolicReference
from gitdb.base import IStream
from gitdb.db import LooseObjectDB

from agent.errors import BundleRefused, NotAMember, SourceError, Unrelated
from agent.ownership import fleet_key
from agent.signatures import SignatureCheck
from fleetsync_contract import BUNDLE_REF_PREFIX, HEARTBEAT_REF_PREFIX, REPORT_REF_PREFIX, STATUS_REF
from fleetsync_contract.gitauth import (
    GIT_TIMEOUT_SECONDS,
    NO_CREDENTIALS,
    GitCredentials,
    remote_env,
    with_url,
)
from fleetsync_contract.gitreason import (
    ACCESS_DENIED,
    AUTH_FAILED,
    HOST_KEY,
    REJECTED,
    REPO_MISSING,
    UNREACHABLE,
    Hints,
)
from fleetsync_contract.gitreason import git_reason as reason_line
from fleetsync_contract.integrity import BundleFiles

log = logging.getLogger("fleetsync.agent")
Verifier = Callable[[Mapping[str, bytes]], list[str]]

MAX_DEEPEN = 512
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
MAX_REPORT_BYTES = 64 * 1024 * 1024  # the last report read back at start (agent/loop.py)
MAX_URL_CHARS = 4096
MAX_COMMIT_OBJECT_BYTES = 1024 * 1024  # a bundle commit object (its signature checked) is < 1 KiB
MAX_LISTED = 30  # clusters named in a NotAMember message
STATUS_CLUSTERS = "clusters/"  # fleet/status: clusters/<name>.yaml per MemberCluster (docs/formats.md §4)
_COMMIT = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True, slots=True)
class FetchedBundle:
    commit: str
    files: Mapping[str, bytes]
    signed_by: str = ""  # the trusted hub key that signed it ("" when signatures are not checked)


def _no_verify(files: Mapping[str, bytes]) -> list[str]:
    return []


def check_cluster_name(name: str) -> str:
    """``name`` if it can name a MemberCluster (a DNS-1123 subdomain, as Kubernetes names
    objects); ValueError otherwise. It becomes part of ref names and git arguments."""
    if not name or len(name) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(name):
        raise ValueError(
            f"--cluster {name!r}: not a MemberCluster name (a DNS-1123 subdomain: at most 253 of "
            "a-z, 0-9, '-' and '.', starting and ending with a letter or digit)"
        )
    return name


def _check_url(url: str) -> str:
    if not url or url.startswith("-") or len(url) > MAX_URL_CHARS or any(ord(c) < 32 for c in url):
        raise ValueError(
            "--repo: not a Git URL or path (empty, too long, a control character or a leading '-')"
        )
    return url


def _check_commit(commit: str) -> str:
    """A commit id read from the cluster (the inventory) before it reaches git's command line."""
    if not _COMMIT.fullmatch(commit):
        raise BundleRefused(f"{commit[:80]!r} is not a commit id; the inventory's bundleCommit is damaged")
    return commit


_Dir = dict[str, "bytes | _Dir"]  # a tree being written: name → content or subtree
# a commit author as the agent names itself (fleetsync-agent-<cluster>): nothing git would rewrite
_AUTHOR = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,510}[A-Za-z0-9])?$")


def _path_parts(path: str) -> list[str]:
    """``path``'s components; ValueError for a path git refuses in a tree (``update-index``:
    empty, ``.``, ``..`` or ``.git`` components, a leading or doubled ``/``, NUL)."""
    parts = path.split("/")
    if not path or "\0" in path or any(p in ("", ".", "..") or p.lower() == ".git" for p in parts):
        raise ValueError(f"invalid path {path[:200]!r} in a report tree")
    return parts


class _GitFailed(Exception):
    """A remote git command exited non-zero; ``stderr`` is git's own text, undecorated."""

    def __init__(self, argv: list[str], code: int, stderr: str):
        super().__init__(f"{argv[:2]} exited {code}")
        self.stderr = stderr


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
        signatures: SignatureCheck | None = None,
    ):
        self.signatures = signatures  # None: bundle commits are not checked for the hub's signature
        self.url, self._auth = with_url(_check_url(url), credentials)
        self.fleet = self._auth.redact(self.url)  # the fleet as messages and the inventory name it
        self.timeout = timeout
        self.cluster = check_cluster_name(cluster)
        self.verify = verify
        key = hashlib.sha256(fleet_key(self.url).encode()).hexdigest()[:16]
        self.path = state_dir / f"source-{key}.git"
        self._member = False
        self._hub_has_run = False  # fleet/status exists (set by _status_clusters)
        self.bundle_ref = BUNDLE_REF_PREFIX + cluster
        self.report_ref = REPORT_REF_PREFIX + cluster
        self.heartbeat_ref = HEARTBEAT_REF_PREFIX + cluster
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            repo = git.Repo.init(self.path, bare=True)
            repo.close()
        self._repo = git.Repo(self.path)
        self._repo.git.update_environment(**{**_git_env(), **remote_env(self._auth)})
        self._loose = LooseObjectDB(str(self.path / "objects"))  # where reports are written (_store)
        self._running: set[subprocess.Popen[bytes]] = set()  # remote git processes (``_remote``)
        self._verified: FetchedBundle | None = None  # the last bundle fetch_bundle verified
        self._closed = False
        self._guard = threading.Lock()

    def close(self) -> None:
        """Kill the remote git processes still running (their callers get a SourceError) and
        refuse new ones; then release the repository."""
        with self._guard:
            self._closed = True
            running = list(self._running)
        for proc in running:  # the caller's communicate() sees the end and reaps it
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        self._repo.close()

    def in_flight(self) -> bool:
        """Whether a remote git process is running."""
        with self._guard:
            return bool(self._running)

    def __enter__(self) -> GitSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _error(self, what: str, e: _GitFailed) -> SourceError:
        """``what: git's reason (the fix)`` in one line, credentials masked (the text reaches logs
        and the report)."""
        return SourceError(self._auth.redact(f"{what}: {git_reason(e.stderr)}"))

    # -- membership -------------------------------------------------------------------------
    def check_member(self) -> None:
        """Raise NotAMember unless the fleet has a MemberCluster of this name: its bundle branch
        exists, or the hub's status names it (a member with no bundle yet). Once shown, not asked
        again. SourceError when the remote cannot be reached (nothing can be pushed then either)."""
        if self._member:
            return
        if self._verified is not None:  # fetch_bundle found fleet/bundles/<cluster>: no ls-remote
            self._member = True
            return
        bundles = self._bundle_clusters()
        if self.cluster in bundles:
            self._member = True
            return
        listed = self._status_clusters()
        if self.cluster in listed:
            self._member = True
            return
        known = sorted(n for n in bundles | listed if _DNS1123_SUBDOMAIN.fullmatch(n))
        if not known and not self._hub_has_run:
            # The hub has published nothing yet (agents may start first): nothing to check
            # against. Not remembered: asked again before the next push, until the hub has run.
            log.debug("the fleet's hub has not published yet; %s is checked once it has", self.cluster)
            return
        more = f" and {len(known) - MAX_LISTED} more" if len(known) > MAX_LISTED else ""
        has = f"the fleet has {', '.join(known[:MAX_LISTED])}{more}" if known else "the fleet has none"
        raise NotAMember(
            self._auth.redact(
                f"{self.cluster} is not a MemberCluster of the fleet {self.fleet}: {has} "
                "(--cluster names this member's MemberCluster)"
            )
        )

    def _member_before_push(self, ref: str) -> None:
        try:
            self.check_member()
        except NotAMember:
            raise
        except SourceError as e:
            raise SourceError(f"cannot push {ref} to {self.fleet}: {e}") from e

    def _bundle_clusters(self) -> set[str]:
        pattern = f"refs/heads/{BUNDLE_REF_PREFIX}"
        try:
            out = self._remote(
                f"cannot list the branches of {self.fleet}", "ls-remote", "--", self.url, pattern + "*"
            )
        except _GitFailed as e:
            raise self._error(f"cannot list the branches of {self.fleet}", e) from e
        names = set()
        for line in out.splitlines()[:100_000]:
            ref = line.partition("\t")[2]
            if ref.startswith(pattern):
                names.add(ref[len(pattern) :])
        return names

    def _status_clusters(self) -> set[str]:
        """The MemberClusters the hub's status names (``clusters/<name>.yaml``); empty without one."""
        local = "refs/remotes/hub/status"
        if self._fetch_tip(STATUS_REF, local, shallow=True) is None:
            self._hub_has_run = False
            return set()
        self._hub_has_run = True
        try:
            out = str(self._repo.git.ls_tree("--name-only", local, STATUS_CLUSTERS))
        except GitCommandError:
            return set()
        return {
            p[len(STATUS_CLUSTERS) : -len(".yaml")]
            for p in out.splitlines()[:100_000]
            if p.startswith(STATUS_CLUSTERS) and p.endswith(".yaml")
        }

    # -- bundles ----------------------------------------------------------------------------
    def fetch_bundle(self, last_accepted: str | None) -> FetchedBundle | None:
        """The newest bundle, verified and descending from ``last_accepted``; None if no branch yet.

        Raises SourceError when the remote cannot be reached and BundleRefused when the bundle
        must not be applied; either way the caller keeps enforcing the last good bundle.
        """
        if last_accepted:
            _check_commit(last_accepted)
        local = f"refs/remotes/hub/{self.cluster}"
        tip = self._fetch_tip(self.bundle_ref, local)
        if tip is None:
            return None
        if last_accepted and tip != last_accepted:
            self._prove_descent(last_accepted, tip)
        if self._verified is not None and self._verified.commit == tip:
            return self._verified  # an idle poll: the same commit, verified when it was fetched
        signed_by = self._check_signed(tip)
        files = self._read_tree(tip)
        problems = self.verify(files)
        if problems:
            raise BundleRefused(f"bundle {tip[:12]} failed verification: " + "; ".join(problems[:5]))
        self._verified = FetchedBundle(tip, files, signed_by)
        return self._verified

    def local_bundle(self, commit: str) -> FetchedBundle | None:
        """The bundle at ``commit`` from the local clone, verified again; None if the clone lacks it.

        What a restarted agent enforces while the remote is unreachable: the clone in the state
        directory still holds the last commit it accepted. Raises BundleRefused when it no longer
        verifies (a damaged cache is never applied)."""
        if not commit or not self._has(_check_commit(commit)):
            return None
        signed_by = self._check_signed(commit)
        files = self._read_tree(commit)
        problems = self.verify(files)
        if problems:
            raise BundleRefused(
                f"cached bundle {commit[:12]} failed verification: " + "; ".join(problems[:5])
            )
        return FetchedBundle(commit, files, signed_by)

    def _check_signed(self, commit: str) -> str:
        """The hub key that signed ``commit`` ("" when not checked); SignatureRefused unless a
        trusted one did (agent/signatures.py)."""
        if self.signatures is None:
            return ""
        stream = self._repo.odb.stream(bytes.fromhex(_check_commit(commit)))
        if stream.type != b"commit" or stream.size > MAX_COMMIT_OBJECT_BYTES:
            raise BundleRefused(f"{commit[:12]} is not a commit of at most {MAX_COMMIT_OBJECT_BYTES} bytes")
        return self.signatures.check(commit, stream.read())

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
                raise Unrelated(
                    f"the hub branch {self.bundle_ref} was rewritten: {tip[:12]} does not descend from the "
                    f"last applied bundle {last[:12]}; keeping the last good bundle"
                )
            if depth >= MAX_DEEPEN:
                raise Unrelated(
                    f"cannot prove that bundle {tip[:12]} descends from the last applied bundle {last[:12]} "
                    f"within {MAX_DEEPEN} commits; refusing it"
                )
            depth *= 2
            try:
                self._remote(
                    f"cannot deepen {self.bundle_ref} from {self.fleet}",
                    "fetch",
                    f"--deepen={depth}",
                    "--no-tags",
                    "--",
                    self.url,
                    f"refs/heads/{self.bundle_ref}",
                )
            except _GitFailed as e:
                raise self._error(f"cannot deepen {self.bundle_ref} from {self.fleet}", e) from e

    def _read_tree(self, commit: str) -> BundleFiles:
        """Every file of ``commit``'s tree, read in two git processes rather than one round trip
        per object: ``ls-tree -r -l`` lists paths, modes and sizes (a symlink or more than
        MAX_BUNDLE_BYTES is refused before any content is read), then one ``cat-file --batch``
        reads every blob. Submodule entries are skipped, as they have no content here."""
        listing = self._git_out(["ls-tree", "-r", "-l", "-z", _check_commit(commit)])
        entries: list[tuple[str, str]] = []  # (path, blob id)
        total = 0
        for record in listing.split(b"\0"):
            if not record:
                continue
            meta, _, raw_path = record.partition(b"\t")
            mode, kind, oid, size = meta.split()
            path = raw_path.decode("utf-8", "surrogateescape")
            if mode == b"120000":
                raise BundleRefused(f"bundle {commit[:12]} contains a symlink: {path}")
            if kind != b"blob":
                continue
            total += int(size)
            if total > MAX_BUNDLE_BYTES:
                raise BundleRefused(f"bundle {commit[:12]} is larger than {MAX_BUNDLE_BYTES} bytes")
            entries.append((path, oid.decode()))
        batch = self._git_out(["cat-file", "--batch"], "".join(f"{blob}\n" for _, blob in entries).encode())
        files: dict[str, bytes] = {}
        at = 0
        for path, blob in entries:
            header_end = batch.index(b"\n", at)
            header = batch[at:header_end].split()  # "<id> blob <size>", or "<id> missing"
            if len(header) != 3 or header[0].decode() != blob or header[1] != b"blob":
                raise SourceError(f"cannot read {path} of bundle {commit[:12]}: git answered {header!r}")
            size = header[2]
            start = header_end + 1
            files[path] = batch[start : start + int(size)]
            at = start + int(size) + 1  # the content is followed by a newline
        return BundleFiles(files)

    def _git_out(self, args: list[str], stdin: bytes = b"") -> bytes:
        """Stdout of a local ``git ARGS`` in the clone (bounded by the git timeout); SourceError
        on failure."""
        env = {**os.environ, "LANGUAGE": "C", "LC_ALL": "C", **self._repo.git.environment()}
        try:
            done = subprocess.run(
                ["git", *args], cwd=self.path, env=env, input=stdin, capture_output=True, timeout=self.timeout
            )
        except subprocess.TimeoutExpired:
            raise SourceError(f"git {args[0]} in the local clone took more than {self.timeout:g} s") from None
        if done.returncode != 0:
            raise SourceError(
                f"git {args[0]} in the local clone failed: {git_reason(done.stderr.decode(errors='replace'))}"
            )
        return done.stdout

    # -- reports ----------------------------------------------------------------------------
    def push_report(self, files: Mapping[str, bytes], message: str, author: str) -> str | None:
        """Commit ``files`` as the whole report tree on top of the remote report branch; push.

        Returns the new commit, or None when nothing changed (no commit is made). NotAMember
        when the fleet has no such cluster (``check_member``): nothing is pushed then.

        Two git processes: the fetch of the branch's tip (``ls-refs`` only once the clone holds
        it) and the push. Blobs, trees and the commit are written here as loose objects
        (``_write_tree``, ``_commit``), the parent's tree is read through gitpython's persistent
        ``cat-file``, and the tip is recorded without ``update-ref`` (``_set_ref``)."""
        self._member_before_push(self.report_ref)
        local = f"refs/remotes/hub/report-{self.cluster}"
        parent = self._fetch_tip(self.report_ref, local)
        tree = self._write_tree(files)
        if parent and self._tree_of(parent) == tree:
            return None
        commit = self._commit(tree, parent, message, author)
        lease = f"--force-with-lease=refs/heads/{self.report_ref}:{parent or ''}"
        try:
            self._remote(
                f"cannot push {self.report_ref} to {self.fleet}",
                "push",
                lease,
                "--",
                self.url,
                f"{commit}:refs/heads/{self.report_ref}",
            )
        except _GitFailed as e:
            raise self._error(f"cannot push {self.report_ref} to {self.fleet}", e) from e
        self._set_ref(local, commit)  # the remote tip now: the next push's probe holds it
        return commit

    def last_report(self, max_bytes: int = MAX_REPORT_BYTES) -> dict[str, bytes] | None:
        """The files at the tip of this cluster's report branch (what a restarted agent carries its
        times over from); None when there is no report yet. SourceError when the remote cannot be
        read; ValueError when the tree holds more than ``max_bytes`` (it is not read)."""
        local = f"refs/remotes/hub/report-{self.cluster}"
        found = self._fetch_tip(self.report_ref, local)
        if found is None:
            return None
        tip = self._repo.commit(found)
        blobs = [b for b in tip.tree.traverse() if isinstance(b, git.Blob) and b.mode != 0o120000]
        if sum(b.size for b in blobs) > max_bytes:
            raise ValueError(f"the report at {tip.hexsha[:12]} is larger than {max_bytes} bytes")
        return {str(b.path): b.data_stream.read() for b in blobs}

    def beat(self, files: Mapping[str, bytes], message: str, author: str) -> str:
        """Move the heartbeat ref to a new parentless commit, so beats never grow history
        (NotAMember, and nothing pushed, when the fleet has no such cluster)."""
        self._member_before_push(self.heartbeat_ref)
        commit = self._commit(self._write_tree(files), None, message, author)
        try:
            self._remote(
                f"cannot push {self.heartbeat_ref} to {self.fleet}",
                "push",
                "--force",
                "--",
                self.url,
                f"{commit}:{self.heartbeat_ref}",
            )
        except _GitFailed as e:
            raise self._error(f"cannot push {self.heartbeat_ref} to {self.fleet}", e) from e
        return commit

    def _fetch_tip(self, branch: str, local: str, *, shallow: bool = False) -> str | None:
        """Fetch the tip of the remote ``branch`` into ``local``; its commit, or None when the
        remote has no such branch. SourceError (one line) on any other failure.

        When ``local`` already holds a commit of the clone, the fetch is not shallow: git asks
        the server for this one ref (``ls-refs``) and stops there when the tip is unchanged, or
        fetches the commits after the one it holds (module docstring). Otherwise, or with
        ``shallow``, ``--depth=1``."""
        depth = ("--depth=1",) if shallow or not self._local_tip(local) else ()
        try:
            self._remote(
                f"cannot fetch {branch} from {self.fleet}",
                "fetch",
                *depth,
                "--no-tags",
                "--",
                self.url,
                f"+refs/heads/{branch}:{local}",
            )
        except _GitFailed as e:
            if "couldn't find remote ref" in e.stderr:
                return None
            raise self._error(f"cannot fetch {branch} from {self.fleet}", e) from e
        tip = self._ref(local)
        if tip is None:
            raise SourceError(f"cannot fetch {branch} from {self.fleet}: git left no commit at {local}")
        return tip

    def _ref(self, local: str) -> str | None:
        """The object ``local`` names, read here (loose or packed ref): no git process per poll."""
        try:
            tip = str(SymbolicReference.dereference_recursive(self._repo, local))
        except (ValueError, OSError):
            return None
        return tip if _COMMIT.fullmatch(tip) else None

    def _local_tip(self, local: str) -> str | None:
        """The commit ``local`` names, when the clone has it; None otherwise."""
        tip = self._ref(local)
        try:
            return tip if tip and self._repo.odb.info(bytes.fromhex(tip)).type == b"commit" else None
        except ValueError:  # git cat-file: missing
            return None

    def _remote(self, what: str, *args: str) -> str:
        """``git ARGS`` against the fleet repo, in its own process group, killed as a group after
        ``self.timeout`` seconds: then a SourceError ``what: no answer within N s`` (redacted).
        A non-zero exit is a _GitFailed with git's stderr; stdout is returned."""
        env = {**os.environ, "LANGUAGE": "C", "LC_ALL": "C", **self._repo.git.environment()}
        # Protocol v2 whatever the operator's git config says: its ls-refs is asked for one ref.
        argv = ["git", "-c", "protocol.version=2", *args]
        with self._guard:
            if self._closed:
                raise SourceError(self._auth.redact(f"{what}: the source is closed (the agent is stopping)"))
            proc = subprocess.Popen(
                argv,
                cwd=self.path,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own group: git-remote-http and ssh die with it
            )
            self._running.add(proc)
        try:
            out, err = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise SourceError(
                self._auth.redact(f"{what}: no answer within {self.timeout:g} s (--git-timeout)")
            ) from None
        except BaseException:  # a stop (KeyboardInterrupt) must not leave git running
            _kill_group(proc)
            raise
        finally:
            with self._guard:
                self._running.discard(proc)
        if self._closed:
            raise SourceError(self._auth.redact(f"{what}: the source was closed (the agent is stopping)"))
        if proc.returncode != 0:
            raise _GitFailed(["git", *args], proc.returncode, err.decode(errors="replace")[-65536:])
        return out.decode(errors="replace")

    def _write_tree(self, files: Mapping[str, bytes]) -> str:
        """The tree of ``files`` (paths with ``/`` make subtrees, every file mode 100644), its
        blobs and trees written as loose objects in this process: no git process, and safe from
        two threads at once (a heartbeat and a report). The ids are git's (``write-tree``'s)."""
        root: _Dir = {}
        for path, data in files.items():
            *dirs, name = _path_parts(path)
            node = root
            for d in dirs:
                child = node.setdefault(d, {})
                if not isinstance(child, dict):
                    raise ValueError(f"invalid path {path!r}: {d} is a file")
                node = child
            if name in node:
                raise ValueError(f"invalid path {path!r}: a directory of that name exists")
            node[name] = data
        return self._store_tree(root).hex()

    def _store_tree(self, node: _Dir) -> bytes:
        entries = []
        for name, value in node.items():
            if isinstance(value, dict):
                entries.append((name + "/", b"40000 " + name.encode() + b"\0" + self._store_tree(value)))
            else:
                entries.append((name, b"100644 " + name.encode() + b"\0" + self._store(b"blob", value)))
        # git orders a tree's entries by name, a subtree's name read with a trailing "/"
        return self._store(b"tree", b"".join(e for _, e in sorted(entries, key=lambda e: e[0].encode())))

    def _store(self, kind: bytes, data: bytes) -> bytes:
        """Write one loose object (zlib, as git does); its binary id."""
        stored = self._loose.store(IStream(kind, len(data), io.BytesIO(data)))
        return bytes(stored.binsha)

    def _commit(self, tree: str, parent: str | None, message: str, author: str) -> str:
        """The commit ``git commit-tree TREE [-p PARENT] -m MESSAGE`` makes with ``author`` as
        author and committer (``AUTHOR@fleetsync.invalid``, the time now in the local zone),
        written here as a loose object."""
        if not _AUTHOR.fullmatch(author) or "\0" in message:
            raise ValueError(f"invalid commit author {author[:80]!r} or message")
        now = int(time.time())
        offset = time.localtime(now).tm_gmtoff // 60
        zone = f"{'-' if offset < 0 else '+'}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"
        ident = f"{author} <{author}@fleetsync.invalid> {now} {zone}"
        lines = [f"tree {tree}", *([f"parent {parent}"] if parent else []), f"author {ident}"]
        text = "\n".join([*lines, f"committer {ident}", "", message])
        return self._store(b"commit", (text if text.endswith("\n") else text + "\n").encode()).hex()

    def _tree_of(self, commit: str) -> str:
        """The tree of ``commit``, read through gitpython's persistent ``cat-file`` (the clone
        holds it: it was just fetched or pushed)."""
        raw = self._repo.odb.stream(bytes.fromhex(_check_commit(commit))).read(256)
        first = raw.split(b"\n", 1)[0]
        return first[len(b"tree ") :].decode() if first.startswith(b"tree ") else ""

    def _set_ref(self, local: str, commit: str) -> None:
        """Point the clone's ``local`` ref at ``commit`` as ``git update-ref`` would: gitpython
        writes the loose ref under git's own lock (``<ref>.lock``); a clone that keeps its refs
        otherwise (reftable) is left to git."""
        if (self.path / "reftable").exists():
            self._repo.git.update_ref(local, commit)
            return
        git.Reference(self._repo, local, check_path=False).set_object(commit)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL ``proc``'s whole process group (it leads one), then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


# What to do about a git failure, by what git said (first match wins; checked on all of stderr).
_HINTS: Hints = (
    (REPO_MISSING, "check --repo: it must name the fleet repo"),
    (AUTH_FAILED, "give the agent credentials: docs/operations.md, 'Git credentials'"),
    (
        ACCESS_DENIED,
        "give the agent's credentials access to the fleet repo: docs/operations.md, 'Git credentials'",
    ),
    (HOST_KEY, "add the Git host's key to --git-known-hosts-file"),
    (
        UNREACHABLE,
        "check that the Git host is reachable from the agent (address, DNS, firewall, proxy); retried",
    ),
    (REJECTED, "another writer moved the ref; retried"),
)


def git_reason(stderr: str) -> str:
    """git's reason for a failure in one line, plus the agent's fix when known
    (fleetsync_contract/gitreason.py)."""
    return reason_line(stderr, _HINTS)
