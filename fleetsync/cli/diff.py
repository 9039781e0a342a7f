"""``fleetsync diff``: what the agent's comparison finds between a cluster's bundle and the cluster.

The answer ``flux diff kustomization`` and ``argocd app diff`` give, for one member, built from
the agent's own doors rather than a second implementation: the bundle is read as the agent reads
it and the live objects through the agent's client, or from a file (fleetsync/cli/diffsources.py);
each object gets one state from the agent's ownership decision and comparison
(fleetsync/cli/livediff.py). This module is the command only, and loads those — and with them the
agent and the ``kubernetes`` client — when it runs, so ``fleetsync --help`` stays fast.

Read-only: objects are only read (GET and LIST). A PartialComparison needs what the server would
make of the manifest, so it sends the agent's own server-side apply with ``dryRun=All``, as
``kubectl diff`` and ``flux diff`` do: the API server validates and admits it but persists
nothing, and refuses rather than call a webhook that does not declare itself free of side
effects on dry runs; it needs the ``patch`` verb the agent's identity holds anyway.
tests/fleetsync/cli/test_diff_live.py shows resource versions unchanged and nothing created.
``--live FILE`` (``kubectl get -o yaml`` output) replaces the cluster; its dry run is
``compare.overlay``, a merge without a server (docs/diff.md says where it differs).

Exit codes as ``kubectl diff``: 0 no differences, 1 differences, 2 usage or config, 3 runtime.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from fleetsync.cli.conventions import EXIT_FINDINGS, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, fail
from fleetsync.cli.gitauth import (
    KnownHostsOpt,
    SshKeyOpt,
    TimeoutOpt,
    TokenFileOpt,
    UsernameOpt,
    git_credentials,
)
from fleetsync_contract.gitauth import GIT_TIMEOUT_SECONDS

_CLUSTER = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")  # a MemberCluster name


class DiffOutput(StrEnum):
    diff = "diff"
    yaml = "yaml"
    json = "json"


def diff_command(
    cluster: Annotated[str, typer.Option("--cluster", help="The member cluster (its MemberCluster name).")],
    repo: Annotated[
        str | None, typer.Option("--repo", help="Fleet repo URL or path (reads fleet/bundles/CLUSTER).")
    ] = None,
    bundle_dir: Annotated[
        Path | None, typer.Option("--bundle-dir", help="A checked-out bundle branch instead of --repo.")
    ] = None,
    kubeconfig: Annotated[
        str | None,
        typer.Option("--kubeconfig", help="Kubeconfig of the member (default: in-cluster, then ~/.kube)."),
    ] = None,
    context: Annotated[str | None, typer.Option("--context", help="Kubeconfig context.")] = None,
    live: Annotated[
        Path | None, typer.Option("--live", help="`kubectl get -o yaml` output instead of the cluster.")
    ] = None,
    placement: Annotated[
        str | None, typer.Option("--placement", help="Only this placement's objects (key or name).")
    ] = None,
    namespace: Annotated[
        str, typer.Option("--namespace", help="The agent's namespace (holds its inventory).")
    ] = "fleetsync-system",
    output: Annotated[
        DiffOutput, typer.Option("--output", "-o", help="diff (unified, kubectl's style), yaml or json.")
    ] = DiffOutput.diff,
    git_token_file: TokenFileOpt = None,
    git_username: UsernameOpt = None,
    git_ssh_key_file: SshKeyOpt = None,
    git_known_hosts_file: KnownHostsOpt = None,
    git_timeout: TimeoutOpt = GIT_TIMEOUT_SECONDS,
) -> None:
    """Compare a cluster's bundle with what is live on it, read-only, as the agent compares them.

    Exit 0 no differences, 1 differences, 2 usage or config, 3 Git or the cluster failed.

    fleetsync diff --cluster prod-eu-1 --repo https://git.example.com/fleet.git --kubeconfig prod.kubeconfig

    fleetsync diff --cluster dev --bundle-dir ./bundle --live live.yaml -o yaml
    """
    problem = _flag_problem(cluster, repo, bundle_dir, live, kubeconfig, context)
    if problem:
        raise fail(problem, EXIT_USAGE)
    auth = git_credentials(git_token_file, git_username, git_ssh_key_file, git_known_hosts_file)
    from agent.errors import AgentError  # the agent and its client load only when the command runs
    from fleetsync.cli.diffsources import Usage, bundle_from_dir, bundle_from_repo, open_target
    from fleetsync.cli.livediff import State, diff_bundle, placement_key, render, works_of
    from fleetsync_contract.bundle import BundleError, parse_bundle

    try:
        with open_target(live, kubeconfig, context) as target:
            inventory, last = target.inventory(namespace)
            if repo is not None:
                local = Path(repo)  # git runs in the throw-away clone: a relative path must not move
                url = str(local.resolve()) if "://" not in repo and local.exists() else repo
                commit, files = bundle_from_repo(url, cluster, auth, git_timeout, last)
            else:
                commit, files = bundle_from_dir(bundle_dir or Path(), cluster)
            bundle = parse_bundle(files)
            key = placement_key(bundle, placement)
            diffs = diff_bundle(bundle, works_of(bundle, files, key), target, cluster, key, inventory)
    except (Usage, BundleError) as e:
        raise fail(str(e), EXIT_USAGE) from e
    except AgentError as e:  # Git or the cluster: unreachable, refused, a bundle refused
        raise fail(str(e), EXIT_RUNTIME) from e
    head = {
        "cluster": cluster,
        "bundleId": bundle.bundle_id,
        "bundleCommit": commit,
        "dryRun": target.dry_run_kind,
    }
    typer.echo(render(diffs, output.value, head), nl=False)
    for d in diffs:
        if d.state != State.IN_SYNC:
            typer.echo(f"{d.state.value}: {d.identity} ({d.placement})", err=True)
    raise typer.Exit(EXIT_FINDINGS if any(d.state != State.IN_SYNC for d in diffs) else EXIT_OK)


def _flag_problem(
    cluster: str,
    repo: str | None,
    bundle_dir: Path | None,
    live: Path | None,
    kubeconfig: str | None,
    context: str | None,
) -> str:
    """What is wrong with the flags ('' when nothing): checked before anything is read."""
    if not _CLUSTER.match(cluster):
        return f"--cluster {cluster!r}: not a cluster name (lower-case letters, digits, '-' and '.')"
    if repo is not None and repo.startswith("-"):
        return f"--repo {repo!r}: a URL or a path, never an option to git"
    if (repo is None) == (bundle_dir is None):
        return "give the bundle with exactly one of --repo and --bundle-dir"
    if live is not None and (kubeconfig or context):
        return "--live replaces the cluster: drop --kubeconfig and --context"
    return ""
