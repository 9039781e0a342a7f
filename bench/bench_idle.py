"""What an idle agent poll costs the Git host: bytes on the wire and server CPU, as the fleet grows.

An agent polls its ``fleet/bundles/<cluster>`` branch every ``--interval`` seconds and almost
always finds nothing new, so at fleet scale the Git host's load is idle polls. This builds fleets
of 10, 100 and 1,000 clusters (a bundle branch with two generations, a report branch and a
heartbeat ref each, as bench/bench_fetch.py does) in a bare repository served on 127.0.0.1 by
``git daemon`` in its socket-activated form (tests/support/gitdaemon.py: one ``git daemon
--inetd`` per connection, whose git processes' CPU is read from ``os.wait4``), behind a
byte-counting TCP relay. For one cluster it then measures, per poll of an unchanged branch:

- the anchor, run in the same process: the agent's poll before issue 19, ``git fetch --depth=1``
  of the branch into the clone that already holds its tip (ref advertisement, negotiation, an
  empty pack made by ``pack-objects``);
- the agent's poll now, ``GitSource.fetch_bundle`` (agent/source.py): protocol v2 ``ls-refs``
  for the one ref and nothing more;
- for reference, a heartbeat (``GitSource.beat``, a push: receive-pack has no protocol v2, so
  every push gets the whole ref advertisement of the fleet; ``receive.autogc`` is off, so the
  figure is the push without an occasional ``git gc --auto``).

Figures: bytes and server CPU milliseconds per poll, old/new ratios, and from the new poll's CPU
how many agents one server core serves at a 15 s and a 1 s interval (one poll per interval, one
heartbeat a minute). The loopback ``git daemon`` stands in for a remote Git host: its per-poll
CPU includes starting two git processes per connection, as any git-over-SSH or git-daemon host
does; an HTTPS host adds TLS and its web tier. Noisy on a shared machine: read the ratios.

``--pack-refs`` packs the served repository's refs first (``git pack-refs --all``, what a host's
housekeeping does): the server then finds one ref's prefix in one sorted file instead of reading
a directory of a file per cluster.

Usage: python -m bench.bench_idle [--sizes 10,100,1000] [--polls 30] [--objects 50] [--pack-refs]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.source import GitSource
from bench.bench_fetch import CountingRelay, build_fleet
from tests.support.gitdaemon import GitDaemon, Served, git

SETTLE_S = 10.0  # how long to wait for the server to reap a poll's git processes


@dataclass(frozen=True, slots=True)
class PerPoll:
    wire_bytes: float
    server_ms: float
    client_ms: float


def measure(daemon: GitDaemon, relay: CountingRelay, polls: int, poll: Callable[[], object]) -> PerPoll:
    """Run ``poll`` ``polls`` times; bytes, server CPU and wall time per run."""
    before = settled(daemon, None)
    relay.reset()
    start = time.perf_counter()
    for _ in range(polls):
        poll()
    took = time.perf_counter() - start
    wire = relay.up + relay.down
    after = settled(daemon, before.connections + polls)
    cpu = after.cpu_seconds - before.cpu_seconds
    return PerPoll(wire / polls, 1000 * cpu / polls, 1000 * took / polls)


def settled(daemon: GitDaemon, connections: int | None) -> Served:
    """``daemon.served()`` once at least ``connections`` have ended (all of them when None)."""
    deadline = time.monotonic() + SETTLE_S
    served = daemon.served()
    while time.monotonic() < deadline:
        served = daemon.served()
        if connections is not None and served.connections >= connections:
            return served
        if connections is None:
            time.sleep(0.2)  # let connections still open end (the relay's last ones)
            if daemon.served() == served:
                return served
        time.sleep(0.01)
    return served


def one_size(clusters: int, polls: int, objects: int, pack_refs: bool) -> tuple[PerPoll, PerPoll, PerPoll]:
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        root = Path(tmp)
        served = root / "served"
        served.mkdir()
        name = f"member-{clusters // 2:04}"
        with GitDaemon(served, backlog=128) as daemon:
            bare = daemon.create("fleet.git")
            build_fleet(bare, clusters, objects)
            # A push's `git gc --auto` (detached) would add CPU nobody counts to a random beat.
            git(bare, "config", "receive.autogc", "false")
            if pack_refs:  # as a host's housekeeping leaves them: one sorted file, not a file per ref
                git(bare, "pack-refs", "--all")
            relay = CountingRelay(daemon.port)
            url = f"git://127.0.0.1:{relay.port}/fleet.git"
            try:
                old_clone = root / "old-agent.git"
                git(root, "init", "-q", "--bare", str(old_clone))
                refspec = f"+refs/heads/fleet/bundles/{name}:refs/remotes/hub/{name}"

                def old_poll() -> None:  # agent/source.py's _fetch_tip before issue 19
                    git(old_clone, "fetch", "-q", "--depth=1", "--no-tags", "--", url, refspec)

                old_poll()
                with GitSource(url, name, root / "agent") as source:
                    first = source.fetch_bundle(None)
                    assert first is not None
                    commit = first.commit

                    def new_poll() -> None:
                        fetched = source.fetch_bundle(commit)
                        assert fetched is not None and fetched.commit == commit

                    def beat() -> None:
                        source.beat({"heartbeat.yaml": b"kind: Heartbeat\n"}, "heartbeat", "bench")

                    beat()  # the membership check (once per process) is not a beat's cost
                    old = measure(daemon, relay, polls, old_poll)
                    new = measure(daemon, relay, polls, new_poll)
                    beats = measure(daemon, relay, max(5, polls // 3), beat)
            finally:
                relay.close()
    return old, new, beats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10,100,1000", help="clusters in the fleet")
    ap.add_argument("--polls", type=int, default=30, help="idle polls measured per size and method")
    ap.add_argument("--objects", type=int, default=50, help="objects per bundle")
    ap.add_argument("--pack-refs", action="store_true", help="pack the served repo's refs first")
    args = ap.parse_args()
    print(
        "per idle poll of one agent's unchanged bundle branch; old = git fetch --depth=1 (before "
        "issue 19), new = GitSource.fetch_bundle (protocol v2 ls-refs of one ref); beat = one "
        "heartbeat push (for reference)"
    )
    print(
        f"{'clusters':>8}  {'old bytes':>9}  {'new bytes':>9}  {'ratio':>6}  {'old cpu ms':>10}  "
        f"{'new cpu ms':>10}  {'ratio':>6}  {'new wall ms':>11}  {'beat bytes':>10}  {'beat cpu ms':>11}"
    )
    last: tuple[PerPoll, PerPoll, PerPoll] | None = None
    for clusters in (int(s) for s in args.sizes.split(",")):
        old, new, beat = one_size(clusters, args.polls, args.objects, args.pack_refs)
        last = (old, new, beat)
        print(
            f"{clusters:>8}  {old.wire_bytes:>9.0f}  {new.wire_bytes:>9.0f}  "
            f"{old.wire_bytes / new.wire_bytes:>5.1f}x  {old.server_ms:>10.2f}  {new.server_ms:>10.2f}  "
            f"{old.server_ms / max(new.server_ms, 1e-6):>5.1f}x  {new.client_ms:>11.1f}  "
            f"{beat.wire_bytes:>10.0f}  {beat.server_ms:>11.2f}",
            flush=True,
        )
    if last is not None:
        _, new, beat = last
        for interval in (15.0, 1.0):
            per_agent_ms = new.server_ms / interval + beat.server_ms / 60.0  # CPU ms per second
            print(
                f"one server core, largest fleet: ~{1000 / per_agent_ms:,.0f} agents polling every "
                f"{interval:g} s with a heartbeat a minute (polls alone: {1000 * interval / new.server_ms:,.0f})"
            )


if __name__ == "__main__":
    main()
