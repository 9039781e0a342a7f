"""The hub's repository: fetching the fleet branch and the hub refs, writing objects, and moving
every ref of one reconcile in one atomic update.

The hub never checks anything out and never needs a work tree. It reads a fleet commit by
exporting that commit's tree into a temporary directory for the loader, and other refs
(``fleet/status``, report branches, heartbeat refs) straight from their trees — that half is
``TreeReader`` in reconciler/gitstore/trees.py, which ``HubRepo`` extends; it writes blobs, trees
and commits straight into the object store from in-memory files (reconciler/gitstore/objects.py);
and it moves every ref of one reconcile in ONE atomic update with the old value it expects for
each ref:

- a remote (URL, or a path given with ``--hub-remote``): ``git push --atomic`` with
  ``--force-with-lease=<ref>:<old>`` per ref, from a local bare cache of the remote;
- a local repository (``--repo PATH``): a ``git update-ref --stdin`` transaction in that repo.

If any ref moved since it was read (another hub won a race) nothing moves and ``RefRace`` is
raised, so the loop re-reads and recomputes. A crash after objects are written but before refs
move leaves the old refs in place; the stray objects are unreachable and harmless.

Credentials (fleetsync_contract/gitauth.py) reach git only as the environment of this door's
gitpython calls; a password in a URL is taken out of it before git sees it (``with_url``), and
every error raised here is redacted, because its text reaches logs and the CLI.

No call to a remote can hang: every fetch, push and ls-remote is one git process in its own
process group with a wall-clock deadline (``timeout``, default ``GIT_TIMEOUT_SECONDS``, the CLI's
``--git-timeout``), plus git's HTTP low-speed limits in its environment (``remote_env``). On
expiry the whole group (git, git-remote-http, ssh) is killed and a ``GitFailure`` names the
remote and the deadline, so the loop retries on its next tick instead of waiting forever.

Two classifications happen here and nowhere else: a failed update is a race exactly when a ref
no longer has its expected value (re-read after the failure, not guessed from git's message);
every other git failure is a ``TransientError``. Repo content never reaches a command line
unchecked: ref names are built from components that pass ``check_ref_component``.

The package reconciler/gitstore/ is the hub side's only door to Git, split by subject: ref naming
and checking and the two failures (refs.py, no gitpython), reading trees (trees.py), writing
objects (objects.py), the hub's commit signature (signing.py), "who committed a file"
(history.py), where a bundle came from (lineage.py), this module, and a person's work tree
for ``fleetsync approve``, ``drift adopt`` and the demo (worktree.py). Import each name from the
module that owns it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

import git
from git.exc import GitCommandError

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
    git_reason,
    unwrap,
)
from reconciler.errors import UserError
from reconciler.gitstore.refs import (
    HUB_REF_PREFIXES,
    ZERO,
    GitFailure,
    RefRace,
    RefUpdate,
    _check_ref,
    _check_sha,
    _git_env,
    check_branch,
    check_ref_component,
    is_url,
)
from reconciler.gitstore.signing import CommitSigner
from reconciler.gitstore.trees import TreeReader

# Where a cache repository keeps its copies of the remote's refs.
_SOURCE_NS = "refs/fleetsync/source/"
_HUB_NS = "refs/fleetsync/hub/"
_TEAMS_NS = "refs/fleetsync/teams/"  # each team repo's branch, fetched (fetch_branch)
_TEAM_STATUS_NS = "refs/fleetsync/team-status/"  # each team repo's fleet/status, as last read
TEAM_STATUS_BRANCH = "fleet/status"  # the one branch the hub writes in a team repo


# What to do about a git failure of the hub, by what git said (fleetsync_contract/gitreason.py).
_HINTS: Hints = (
    (REPO_MISSING, "check --repo: it must name the fleet repo"),
    (AUTH_FAILED, "give the hub credentials: docs/operations.md, 'Git credentials'"),
    (
        ACCESS_DENIED,
        "give the hub's credentials write access to the fleet repo: docs/operations.md, 'Git credentials'",
    ),
    (HOST_KEY, "add the Git host's key to --git-known-hosts-file"),
    (
        UNREACHABLE,
        "check that the Git host is reachable from the hub (address, DNS, firewall, proxy); retried",
    ),
)


# What to do about a failed push of a team's fleet/status (reconciler/hub/teamstatus.py).
_TEAM_STATUS_HINTS: Hints = (
    (REPO_MISSING, "check the Team's spec.repo.url"),
    (AUTH_FAILED, "give the hub credentials for the team repo: docs/operations.md, 'Git credentials'"),
    (
        (*ACCESS_DENIED, "[remote rejected]", "protected branch"),
        "give the hub push rights to fleet/status of the team repo: docs/hub.md, 'Team repos'",
    ),
    (REJECTED, "fleet/status of the team repo moved meanwhile; read again and retried"),
    (HOST_KEY, "add the Git host's key to --git-known-hosts-file"),
    (UNREACHABLE, "check that the team repo's host is reachable from the hub; retried"),
)


# What to do about a failed fetch of a team repo (fetch_branch, team_status_tip).
_TEAM_FETCH_HINTS: Hints = (
    (REPO_MISSING, "check the Team's spec.repo.url and spec.repo.branch"),
    *(h for h in _TEAM_STATUS_HINTS if h[0] in (AUTH_FAILED, HOST_KEY, UNREACHABLE)),
)


def _stderr(e: GitCommandError, hints: Hints = _HINTS) -> str:
    """git's reason in one line with the fix (not gitpython's last line, often a lone quote)."""
    return git_reason(unwrap(str(e.stderr or e)), hints)


class HubRepo(TreeReader):
    """The fleet repo as the hub sees it: one source branch plus the hub's own refs.

    ``HubRepo.local(path)`` works inside an existing repository; ``HubRepo.cached(...)`` keeps
    a bare cache of a remote and publishes to it with ``push --atomic``. Callers name refs by
    their full remote names (``refs/heads/fleet/status``) in both modes.
    """

    def __init__(
        self,
        repo: git.Repo,
        *,
        branch: str,
        source: str | None,
        hub_remote: str | None,
        credentials: GitCredentials = NO_CREDENTIALS,
        timeout: float = GIT_TIMEOUT_SECONDS,
    ):
        super().__init__(repo)
        self.branch = check_branch(branch)
        self.source = source  # None: the fleet branch is read from this repository itself
        self.hub_remote = hub_remote  # None: hub refs live in this repository itself
        # Every git process gets the credentials' environment and the HTTP low-speed limits
        # (reconciler/gitstore/refs.py keeps prompts off, this adds the helper/ssh); every one
        # that talks to a remote is bounded by ``timeout`` seconds (``_remote``).
        self._auth = credentials
        self._signer: CommitSigner | None = None  # sign_commits
        self.timeout = timeout
        self._repo.git.update_environment(**remote_env(credentials))

    @classmethod
    def local(cls, path: Path, branch: str = "main") -> HubRepo:
        try:
            repo = git.Repo(path)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError) as e:
            raise UserError(f"{path}: not a git repository") from e
        return cls(repo, branch=branch, source=None, hub_remote=None)

    @classmethod
    def cached(
        cls,
        cache: Path,
        source: str,
        hub_remote: str | None = None,
        branch: str = "main",
        credentials: GitCredentials = NO_CREDENTIALS,
        timeout: float = GIT_TIMEOUT_SECONDS,
    ) -> HubRepo:
        """A bare cache under ``cache`` of ``source`` (URL or path); hub refs go to ``hub_remote``.

        A password in either URL is taken out of it (``with_url``): git is given bare URLs and
        the token through ``credentials``' environment, never on its command line."""
        source, credentials = with_url(source, credentials)
        if hub_remote is not None:
            hub_remote, credentials = with_url(hub_remote, credentials)
        if not (cache / "HEAD").exists():
            cache.mkdir(parents=True, exist_ok=True)
            git.Repo.init(cache, bare=True).close()
        return cls(
            git.Repo(cache),
            branch=branch,
            source=source,
            hub_remote=hub_remote or source,
            credentials=credentials,
            timeout=timeout,
        )

    def close(self) -> None:
        self._repo.close()

    def __enter__(self) -> HubRepo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """Objects written inside the block go to the store as one pack when it ends
        (reconciler/gitstore/objects.py); reads and ``publish`` inside it write them first."""
        return self._writer.batch()

    # -- reading ----------------------------------------------------------------------------
    def refresh(self, source: bool = True) -> None:
        """Fetch the source branch (unless ``source`` is False) and every hub ref (cache mode).

        A no-op on a local repository, which is read in place.
        """
        if self.hub_remote is None or self.source is None:
            return
        hub_specs = [f"+{p}*:{_HUB_NS}{p[len('refs/') :]}*" for p in HUB_REF_PREFIXES]
        source_spec = f"+refs/heads/{self.branch}:{_SOURCE_NS}{self.branch}"
        if not source:
            self._fetch(self.hub_remote, hub_specs)
        elif self.source == self.hub_remote:
            self._fetch(self.source, [source_spec, *hub_specs])
        else:
            self._fetch(self.source, [source_spec])
            self._fetch(self.hub_remote, hub_specs)

    def _fetch(self, remote: str, specs: list[str], hints: Hints = _HINTS) -> None:
        try:
            self._remote(
                f"cannot fetch from {remote}",
                "fetch",
                "--prune",
                "--no-tags",
                "--quiet",
                "--",
                remote,
                *specs,
            )
        except GitCommandError as e:
            raise GitFailure(self._auth.redact(f"cannot fetch from {remote}: {_stderr(e, hints)}")) from e

    def fetch_branch(self, remote: str, branch: str, ref: str) -> str | None:
        """Fetch ``branch`` of another repository (a team repo, reconciler/hub/teams.py) into
        this repository's ``ref`` (under ``refs/fleetsync/``), bounded and redacted like every
        fetch; the ref's commit after it (None when it has none)."""
        check_branch(branch)
        if not ref.startswith(_TEAMS_NS):
            raise ValueError(f"a team repo is fetched under {_TEAMS_NS}, not into {ref!r}")
        check_ref_component(ref[len(_TEAMS_NS) :])
        self._fetch(remote, [f"+refs/heads/{branch}:{ref}"], _TEAM_FETCH_HINTS)
        return self._resolve(ref)

    def team_status_tip(self, remote: str, team: str) -> str | None:
        """The commit of ``fleet/status`` in a team repo (None when it has none), fetched into
        ``refs/fleetsync/team-status/<team>`` so a new status commit can build on it; bounded and
        redacted like every call to a remote (reconciler/hub/teamstatus.py)."""
        ref = _TEAM_STATUS_NS + check_ref_component(team)
        branch = f"refs/heads/{TEAM_STATUS_BRANCH}"
        try:
            out = self._remote(f"cannot list refs of {remote}", "ls-remote", "--", remote, branch)
        except GitCommandError as e:
            why = _stderr(e, _TEAM_FETCH_HINTS)
            raise GitFailure(self._auth.redact(f"cannot list refs of {remote}: {why}")) from e
        tips = [line.partition("\t")[0] for line in out.splitlines() if line.endswith("\t" + branch)]
        if not tips:
            return None
        tip = _check_sha(tips[0])
        if self._resolve(ref) != tip:
            self._fetch(remote, [f"+{branch}:{ref}"], _TEAM_FETCH_HINTS)
        return tip

    def push_team_status(self, remote: str, team: str, new: str, old: str | None) -> None:
        """Move ``fleet/status`` of a team repo from ``old`` (None: it must not exist) to ``new``,
        with a lease, so a branch moved by anyone else is never overwritten; GitFailure (redacted)
        when the push is refused or the repo cannot be reached. Nothing else of a team repo is
        ever written: the branch name is fixed here."""
        self._writer.flush()
        ref = _TEAM_STATUS_NS + check_ref_component(team)
        branch = f"refs/heads/{TEAM_STATUS_BRANCH}"
        new = _check_sha(new)
        lease = f"--force-with-lease={branch}:{_check_sha(old) if old is not None else ''}"
        try:
            self._remote(
                f"cannot push to {remote}", "push", "--no-verify", lease, "--", remote, f"{new}:{branch}"
            )
        except GitCommandError as e:  # not --porcelain: a rejected ref's reason stays on stderr
            why = git_reason(unwrap(str(e.stderr or e)), _TEAM_STATUS_HINTS)
            why = why.replace(new, "the status commit")  # the same failure reads the same each pass
            raise GitFailure(self._auth.redact(f"cannot push to {remote}: {why}")) from e
        self._repo.git.update_ref(ref, new)

    def source_commit(self) -> str | None:
        """The newest commit of the fleet branch (None when the branch does not exist)."""
        ref = f"{_SOURCE_NS}{self.branch}" if self.source is not None else f"refs/heads/{self.branch}"
        return self._resolve(ref)

    def hub_refs(self) -> dict[str, str]:
        """Every hub ref (``refs/heads/fleet/*``, ``refs/fleet/*``) → commit, by its remote name."""
        if self.hub_remote is None:
            raw = self._for_each_ref(list(HUB_REF_PREFIXES))
            return {r: s for r, s in raw.items() if r.startswith(HUB_REF_PREFIXES)}
        raw = self._for_each_ref([_HUB_NS])
        return {"refs/" + r[len(_HUB_NS) :]: s for r, s in raw.items()}

    def _for_each_ref(self, patterns: list[str]) -> dict[str, str]:
        try:
            out = self._repo.git.for_each_ref("--format=%(objectname) %(refname)", "--", *patterns)
        except GitCommandError as e:
            raise GitFailure(f"cannot list refs: {_stderr(e)}") from e
        refs: dict[str, str] = {}
        for line in str(out).splitlines():
            sha, _, ref = line.partition(" ")
            refs[ref] = sha
        return refs

    def remote_url(self, name: str) -> str | None:
        """The URL of this repository's remote ``name``; None when it has no such remote."""
        try:
            check_ref_component(name)
            url = str(self._repo.git.config("--get", f"remote.{name}.url")).strip()
        except (UserError, GitCommandError):
            return None
        if url and not is_url(url) and not Path(url).is_absolute():
            url = str((Path(self._repo.working_tree_dir or self._repo.git_dir) / url).resolve())
        return url or None

    def resolve(self, rev: str) -> str | None:
        """A revision (branch, tag, commit id, ``HEAD~1``) as a commit id; None when there is none."""
        if not rev or len(rev) > 256 or rev.startswith("-") or any(c.isspace() or ord(c) < 32 for c in rev):
            return None
        return self._resolve(rev)

    def _resolve(self, ref: str) -> str | None:
        try:
            return _check_sha(str(self._repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}")))
        except GitCommandError:
            return None

    def is_ancestor(self, older: str, newer: str) -> bool:
        """Whether commit ``older`` is ``newer`` or in its history; False when either is unknown."""
        try:
            self._repo.git.merge_base("--is-ancestor", _check_sha(older), _check_sha(newer))
        except (GitCommandError, GitFailure):
            return False
        return True

    # -- writing ----------------------------------------------------------------------------
    def write_tree(self, files: Mapping[str, bytes]) -> str:
        """Blobs and trees for ``files`` (path → bytes) in the object store; the root tree id."""
        return self._writer.write_tree(files)

    def write_commit(self, tree: str, parents: Iterable[str], message: str, now: datetime) -> str:
        """A commit object (no ref moves); same inputs give the same id."""
        return self._writer.write_commit(_check_sha(tree), [_check_sha(p) for p in parents], message, now)

    def sign_commits(self, signer: CommitSigner | None) -> None:
        """Sign every commit written from now on with the hub's key (reconciler/gitstore/signing.py)."""
        self._writer.signer = self._signer = signer

    def needs_signature(self, commit: str) -> bool:
        """Whether a signing hub must write ``commit``'s content again: it lacks the hub's signature."""
        return self._signer is not None and not self._signer.signed(_check_sha(commit), self._object)

    def publish(self, updates: Sequence[RefUpdate]) -> None:
        """Move every ref in ``updates`` at once, or none; RefRace if one was moved meanwhile."""
        self._writer.flush()
        if not updates:
            return
        for u in updates:
            _check_ref(u.ref)
            _check_sha(u.new)
            if u.old is not None:
                _check_sha(u.old)
        if self.hub_remote is None:
            self._update_local(updates)
        else:
            self._push(updates)

    def _update_local(self, updates: Sequence[RefUpdate]) -> None:
        script = "".join(f"update {u.ref} {u.new} {u.old or ZERO}\n" for u in updates)
        env = {**os.environ, **_git_env(), "GIT_DIR": str(self.path)}
        done = subprocess.run(
            ["git", "update-ref", "--stdin"], input=script.encode(), env=env, capture_output=True, check=False
        )
        if done.returncode != 0:
            actual = self._for_each_ref(list(HUB_REF_PREFIXES))
            self._raise_if_moved(updates, actual)
            lines = done.stderr.decode(errors="replace").strip().splitlines()
            raise GitFailure("ref transaction failed: " + (lines[-1] if lines else "git update-ref failed"))

    def _push(self, updates: Sequence[RefUpdate]) -> None:
        assert self.hub_remote is not None
        leases = [f"--force-with-lease={u.ref}:{u.old or ''}" for u in updates]
        specs = [f"{u.new}:{u.ref}" for u in updates]
        try:
            self._remote(
                f"cannot push to {self.hub_remote}",
                "push",
                "--atomic",
                "--porcelain",
                "--no-verify",
                *leases,
                "--",
                self.hub_remote,
                *specs,
            )
        except GitCommandError as e:
            try:
                actual = self._ls_remote(self.hub_remote)
            except GitFailure:
                raise GitFailure(self._auth.redact(f"cannot push to {self.hub_remote}: {_stderr(e)}")) from e
            self._raise_if_moved(updates, actual)
            raise GitFailure(self._auth.redact(f"cannot push to {self.hub_remote}: {_stderr(e)}")) from e
        for u in updates:  # keep the cache's copies current for the next read
            self._repo.git.update_ref(_HUB_NS + u.ref[len("refs/") :], u.new)

    def _ls_remote(self, remote: str) -> dict[str, str]:
        try:
            out = self._remote(
                f"cannot list refs of {remote}",
                "ls-remote",
                "--",
                remote,
                *(p + "*" for p in HUB_REF_PREFIXES),
            )
        except GitCommandError as e:
            raise GitFailure(self._auth.redact(f"cannot list refs of {remote}: {_stderr(e)}")) from e
        refs: dict[str, str] = {}
        for line in str(out).splitlines():
            sha, _, ref = line.partition("\t")
            refs[ref] = sha
        return refs

    def _remote(self, what: str, *args: str) -> str:
        """``git ARGS`` against a remote, in its own process group, killed as a group after
        ``self.timeout`` seconds: then a GitFailure ``what: no answer within N s`` (redacted).
        A non-zero exit is a GitCommandError, as gitpython raises it; stdout is returned."""
        env = {**os.environ, "LANGUAGE": "C", "LC_ALL": "C", **self._repo.git.environment()}
        argv = ["git", *args]
        proc = subprocess.Popen(
            argv,
            cwd=self.path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own group: git-remote-http and ssh die with it
        )
        try:
            out, err = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise GitFailure(
                self._auth.redact(f"{what}: no answer within {self.timeout:g} s (--git-timeout)")
            ) from None
        except BaseException:  # a stop (KeyboardInterrupt) must not leave git running
            _kill_group(proc)
            raise
        if proc.returncode != 0:
            raise GitCommandError(argv, proc.returncode, err.decode(errors="replace").rstrip("\n"))
        return out.decode(errors="replace").rstrip("\n")

    @staticmethod
    def _raise_if_moved(updates: Sequence[RefUpdate], actual: Mapping[str, str]) -> None:
        moved = [u.ref for u in updates if actual.get(u.ref) != u.old]
        if moved:
            raise RefRace(moved)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL ``proc``'s whole process group (it leads one), then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def open_hub_repo(
    location: str,
    *,
    branch: str = "main",
    hub_remote: str | None = None,
    cache_root: Path | None = None,
    credentials: GitCredentials = NO_CREDENTIALS,
    timeout: float = GIT_TIMEOUT_SECONDS,
) -> HubRepo:
    """``--repo URL|PATH [--hub-remote URL]`` → a HubRepo.

    A local repository without ``--hub-remote`` is worked on in place (refs move by a local
    transaction); anything else goes through a bare cache under ``cache_root`` (default
    ``~/.cache/fleetsync/hub``), one per (source, hub remote) pair, named by their URLs without
    credentials (a rotated token keeps its cache). ``credentials`` authenticate every remote;
    ``timeout`` bounds every git process that talks to one (seconds).
    """
    if hub_remote is None and not is_url(location):
        return HubRepo.local(Path(location), branch)
    if is_url(location):
        source, credentials = with_url(location, credentials)
    else:
        source = str(Path(location).resolve())
    remote = hub_remote
    if remote is not None and is_url(remote):
        remote, credentials = with_url(remote, credentials)
    elif remote is not None:
        remote = str(Path(remote).resolve())
    root = cache_root or Path.home() / ".cache" / "fleetsync" / "hub"
    digest = hashlib.sha256(f"{source}\0{remote or ''}".encode()).hexdigest()[:16]
    return HubRepo.cached(root / digest, source, remote, branch, credentials, timeout)
