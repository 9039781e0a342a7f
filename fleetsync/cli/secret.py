"""``fleetsync secret encrypt``: a plaintext Secret in, a SOPS file for the right clusters out.

The recipients come from the fleet repo itself — each MemberCluster's
``fleetsync.io/age-recipient`` annotation — so the person encrypting names clusters (or a label
selector), never keys, and the hub's rule (reconciler/policy/encrypted.py: a Secret reaches only
its recipients) and the file agree by construction. The output is the SOPS format real ``sops``
decrypts (fleetsync_contract/sops.py), with only ``data``/``stringData`` encrypted and keys
sorted, written in canonical YAML; nothing of the plaintext is ever printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from fleetsync.cli.conventions import EXIT_USAGE, fail

app = typer.Typer(
    help="Per-cluster encrypted Secrets (SOPS with age; docs/security.md).", no_args_is_help=True
)

MAX_FILE_BYTES = 1 << 20


def parse_selector(text: str) -> list[tuple[str, str | None]]:
    """``key=value,key2,key3=value3``: equality, or (no ``=``) the label exists."""
    terms: list[tuple[str, str | None]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, eq, value = part.partition("=")
        if not key.strip() or "!" in key:
            raise fail(f"--selector: {part!r} is not key=value or key", EXIT_USAGE)
        terms.append((key.strip(), value.strip() if eq else None))
    if not terms:
        raise fail("--selector is empty", EXIT_USAGE)
    return terms


def _selected(labels: dict[str, str], terms: list[tuple[str, str | None]]) -> bool:
    return all(k in labels and (v is None or labels[k] == v) for k, v in terms)


def recipients_for(
    repo: Path, clusters: list[str], selector: str | None
) -> tuple[list[str], dict[str, list[str]]]:
    """The chosen clusters and their recipients, read from the repo's MemberClusters."""
    from reconciler.load.fleet import load_directory
    from reconciler.policy.encrypted import AGE_RECIPIENT_ANNOTATION, cluster_recipients

    members = load_directory(repo).spec.members
    chosen = list(clusters)
    unknown = [c for c in chosen if c not in members]
    if unknown:
        raise fail(f"no MemberCluster named {', '.join(unknown)} in {repo}", EXIT_USAGE)
    if selector is not None:
        terms = parse_selector(selector)
        chosen += [
            n for n, m in sorted(members.items()) if _selected(dict(m.labels), terms) and n not in chosen
        ]
    if not chosen:
        raise fail("no cluster chosen: name one with --cluster or match some with --selector", EXIT_USAGE)
    keys = {c: sorted(cluster_recipients(members[c])) for c in chosen}
    missing = [c for c, k in keys.items() if not k]
    if missing:
        raise fail(
            f"MemberCluster {', '.join(missing)} declares no age recipient: add the annotation "
            f"{AGE_RECIPIENT_ANNOTATION}: age1... (the public key of the identity its agent holds)",
            EXIT_USAGE,
        )
    return chosen, keys


def _read_document(path: Path) -> dict[str, Any]:
    from fleetsync_contract.canonical import load

    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise fail(f"{path} is larger than {MAX_FILE_BYTES} bytes", EXIT_USAGE)
        doc = load(path.read_bytes())
    except OSError as e:
        raise fail(f"cannot read {path}: {e.strerror}", EXIT_USAGE) from e
    except ValueError as e:  # a YAML error: its message may quote the file, so only where
        raise fail(f"{path} is not one YAML document", EXIT_USAGE) from e
    if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str):
        raise fail(f"{path} is not one Kubernetes object", EXIT_USAGE)
    return doc


@app.command("encrypt")
def encrypt_command(
    file: Annotated[Path, typer.Argument(help="A plaintext YAML Secret (one document).")],
    cluster: Annotated[
        list[str] | None,
        typer.Option("--cluster", "-c", help="A MemberCluster that may read it (repeatable)."),
    ] = None,
    selector: Annotated[
        str | None,
        typer.Option("--selector", "-l", help="Also every MemberCluster with these labels (k=v,k2=v2,k3)."),
    ] = None,
    repo: Annotated[Path, typer.Option("--repo", help="A checkout of the fleet repo.")] = Path("."),
    in_place: Annotated[
        bool, typer.Option("--in-place", "-i", help="Replace FILE with the encrypted file.")
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Encrypt a Secret for the clusters that may read it, in SOPS format with their age recipients.

    Only data and stringData are encrypted; the rest stays readable, so the hub can place the
    Secret (only on those clusters) and reviewers can see what changed. Commit the output.

      fleetsync secret encrypt --cluster prod-eu-1 --in-place apps/web/db-secret.yaml

      fleetsync secret encrypt --selector env=prod secret.yaml -o apps/web/db-secret.yaml
    """
    from fleetsync_contract import sops
    from fleetsync_contract.canonical import dump

    chosen, keys = recipients_for(repo, cluster or [], selector)
    doc = _read_document(file)
    if sops.is_sops(doc):
        raise fail(
            f"{file} is already SOPS-encrypted: decrypt it first (sops --decrypt) to change its recipients",
            EXIT_USAGE,
        )
    try:
        encrypted = sops.encrypt(doc, [k for c in chosen for k in keys[c]])
    except sops.SopsError as e:
        raise fail(f"{file}: {e}", EXIT_USAGE) from e
    data = dump(encrypted)
    target = file if in_place else output
    if target is None:
        typer.echo(data.decode(), nl=False)
    else:
        target.write_bytes(data)
    typer.echo(f"encrypted {file} for {', '.join(chosen)}", err=True)
