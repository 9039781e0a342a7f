"""Repo settings: the optional ``fleetsync.yaml`` at the root of a fleet repo.

Every setting has a default, so a repo of plain KubeFleet YAML works without the file. The
file is user input like any other: it is read with the Fields reader, so a misspelled key or a
bad value becomes a located finding (and the default is used for it) instead of a crash.
The settings are documented in docs/settings.md; keep the two in step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from reconciler.api.fields import Context, Fields
from reconciler.errors import Finding, Findings
from reconciler.load.schemas import DEFAULT_KUBERNETES_VERSION, shipped_versions
from reconciler.load.yamldoc import Document, YamlError, parse_documents

SETTINGS_FILE = "fleetsync.yaml"
SETTINGS_API_VERSION = "fleetsync.io/v1alpha1"
SETTINGS_KIND = "FleetSettings"
MAX_SETTINGS_BYTES = 64 * 1024

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_POLICY_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@dataclass(frozen=True, slots=True)
class CommitVerification:
    """``verify:`` — which fleet commits the hub renders (reconciler/gitstore/signatures.py)."""

    commits: str = "off"  # "off" or "strict": every new fleet commit signed by an allowed key
    allowed_signers_file: str = ""  # repo path of an SSH allowed-signers file; "" = the hub's git config
    host_signers: tuple[str, ...] = ()  # signers whose merge commits vouch for their merged side


@dataclass(frozen=True, slots=True)
class Settings:
    """What a fleet repo configures about itself; the defaults are KubeFleet's where it has one."""

    include: tuple[str, ...] = ()  # globs of repo paths to read; empty = every YAML file
    exclude: tuple[str, ...] = ()  # globs of repo paths never read (wins over include)
    policies: tuple[str, ...] | None = None  # enabled policy names; None = every shipped policy
    heartbeat_timeout: timedelta = timedelta(minutes=5)
    unhealthy_window: timedelta = timedelta(minutes=5)
    prune_max_share: float = 0.5
    verify_approvals: bool = False  # a staged-run approval counts only from a well-signed commit
    verify: CommitVerification = CommitVerification()  # which fleet commits render (docs/settings.md)
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION  # plain objects' schemas (load/schemas.py)


DEFAULT_SETTINGS = Settings()


def parse_duration(text: str) -> timedelta | None:
    """``5m``, ``90s``, ``1h30m`` (Go-style h/m/s units) → timedelta; None when not one."""
    m = _DURATION.match(text)
    if not text or m is None:
        return None
    h, mi, s = (int(g) if g else 0 for g in m.groups())
    return timedelta(hours=h, minutes=mi, seconds=s)


def format_duration(value: timedelta) -> str:
    total = int(value.total_seconds())
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    out = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s else "")
    return out or "0s"


def _duration(f: Fields, key: str, default: timedelta, minimum: timedelta, maximum: timedelta) -> timedelta:
    text = f.str(key)
    if text is None:
        return default
    value = parse_duration(text)
    if value is None:
        f.error(key, f"{text!r} is not a duration: use h/m/s units such as '5m', '90s' or '1h30m'")
        return default
    if not minimum <= value <= maximum:
        f.error(
            key,
            f"must be between {format_duration(minimum)} and {format_duration(maximum)}, got {text!r}",
        )
        return default
    return value


def _globs(f: Fields, key: str) -> tuple[str, ...]:
    out: list[str] = []
    for item in f.list(key, max_items=200) or []:
        text = item.str()
        if text is None:
            continue
        if not text or text.startswith("/") or "\\" in text or ".." in text.split("/"):
            item.error(f"{text!r} is not a repo-relative glob such as 'clusters/**' or '**/*.yaml'")
            continue
        out.append(text)
    return tuple(out)


def parse_settings(doc: Document, findings: Findings) -> Settings:
    """One ``fleetsync.yaml`` document → Settings; every bad value is a finding and keeps its default."""
    if not isinstance(doc.data, dict):
        findings.add(Finding(doc.file, doc.line, 1, "", "fleetsync.yaml must be a mapping of settings"))
        return DEFAULT_SETTINGS
    f = Fields(Context(doc, findings, SETTINGS_KIND), (), doc.data)
    f.str("apiVersion", enum=[SETTINGS_API_VERSION])
    f.str("kind", enum=[SETTINGS_KIND])
    include = _globs(f, "include")
    exclude = _globs(f, "exclude")
    policies: tuple[str, ...] | None = None
    if f.has("policies"):
        names: list[str] = []
        for item in f.list("policies", max_items=500) or []:
            name = item.str()
            if name is None:
                continue
            if not _POLICY_NAME.match(name):
                item.error(f"{name!r} is not a policy name (lowercase letters, digits, '-' and '.')")
                continue
            names.append(name)
        policies = tuple(names)
    heartbeat = _duration(
        f, "heartbeatTimeout", DEFAULT_SETTINGS.heartbeat_timeout, timedelta(seconds=30), timedelta(hours=1)
    )
    unhealthy = _duration(
        f, "unhealthyWindow", DEFAULT_SETTINGS.unhealthy_window, timedelta(seconds=0), timedelta(hours=1)
    )
    share = DEFAULT_SETTINGS.prune_max_share
    if f.has("pruneMaxShare"):
        raw = f.raw("pruneMaxShare")
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 <= raw <= 1:
            f.error("pruneMaxShare", f"must be a number from 0 to 1 (a share of the inventory), got {raw!r}")
        else:
            share = float(raw)
    verify = f.bool("verifyApprovals", DEFAULT_SETTINGS.verify_approvals)
    commits = _commit_verification(f)
    k8s = f.str("kubernetesVersion", enum=list(shipped_versions())) or DEFAULT_KUBERNETES_VERSION
    f.done()
    return Settings(include, exclude, policies, heartbeat, unhealthy, share, verify, commits, k8s)


def _commit_verification(f: Fields) -> CommitVerification:
    v = f.map("verify")
    if v is None:
        return CommitVerification()
    # YAML 1.1 reads a bare ``off`` as false
    mode = "off" if v.raw("commits") is False else v.str("commits", "off", enum=["off", "strict"]) or "off"
    path = v.str("allowedSignersFile", "", max_len=256) or ""
    if path and (path.startswith(("/", "-")) or "\\" in path or ".." in path.split("/")):
        v.error(
            "allowedSignersFile", f"{path!r} is not a repo-relative path such as '.fleetsync/allowed_signers'"
        )
        path = ""
    hosts = tuple(s for s in v.str_list("hostSigners", max_items=20) if 0 < len(s) <= 256)
    v.done()
    return CommitVerification(mode, path, hosts)


def read_settings(text: bytes, file: str = SETTINGS_FILE) -> tuple[Settings, tuple[Finding, ...]]:
    """The settings file's bytes → Settings plus findings (defaults stand in for anything bad)."""
    findings = Findings()
    try:
        docs = parse_documents(text, file, max_bytes=MAX_SETTINGS_BYTES)
    except YamlError as e:
        return DEFAULT_SETTINGS, (e.finding,)
    if not docs:
        return DEFAULT_SETTINGS, ()
    if len(docs) > 1:
        findings.add(Finding(file, docs[1].line, 1, "", "fleetsync.yaml must hold one YAML document"))
    settings = parse_settings(docs[0], findings)
    return settings, tuple(findings.items)
