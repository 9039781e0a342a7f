"""Objects the hub writes without a process per object, held to git's own checks.

Every shape ObjectWriter writes — loose objects below PACK_MIN_OBJECTS, one pack above, blobs
whose pack entry header needs 1 to 4 size bytes, blobs over 1 MiB, trees (in git's entry order),
commits, objects the repository already has, nested batches, ``flush_for`` — must pass
``git verify-pack -v`` (pack checksum, index checksum, every entry's offset and CRC) and
``git fsck --strict --full``, and ``git cat-file`` must give back exactly the bytes written under
exactly the id the writer returned. Real git, repositories in tmp_path, no mocks.
"""

from __future__ import annotations

import hashlib
import struct
import subprocess
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.gitstore.objects import PACK_MIN_OBJECTS, ObjectWriter, write_pack
from reconciler.gitstore.refs import GitFailure
from tests.support.gitdaemon import GIT_ENV

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def run_git(
    git_dir: Path, *args: str, data: bytes | None = None, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", *args], input=data, env={**GIT_ENV, "GIT_DIR": str(git_dir)}, capture_output=True, check=check
    )


@pytest.fixture(params=["bare", "work-tree"])
def git_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if request.param == "bare":
        run_git(tmp_path, "init", "-q", "--bare", str(tmp_path / "hub.git"))
        return tmp_path / "hub.git"
    subprocess.run(["git", "init", "-q", str(tmp_path / "work")], env=GIT_ENV, check=True)
    return tmp_path / "work" / ".git"


def git_id(kind: str, data: bytes) -> str:
    return hashlib.sha1(f"{kind} {len(data)}".encode() + b"\0" + data).hexdigest()


def filler(n: int, tag: str = "") -> dict[str, bytes]:
    """``n`` small distinct YAML files, so a batch reaches PACK_MIN_OBJECTS."""
    return {
        f"cm/settings-{tag}{i}.yaml": f"kind: ConfigMap\nmetadata: {{name: s-{tag}{i}}}\n".encode()
        for i in range(n)
    }


def packs(git_dir: Path) -> list[Path]:
    return sorted((git_dir / "objects" / "pack").glob("pack-*.pack"))


def loose(git_dir: Path) -> set[str]:
    return {p.parent.name + p.name for p in (git_dir / "objects").glob("[0-9a-f][0-9a-f]/*")}


def packed(pack: Path) -> dict[str, tuple[str, int]]:
    """``git verify-pack -v``: every object in the pack (id -> (type, size)); fails on any error."""
    out = run_git(
        pack.parent.parent.parent, "verify-pack", "-v", str(pack.with_suffix(".idx"))
    ).stdout.decode()
    objs: dict[str, tuple[str, int]] = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 5 and len(fields[0]) == 40:
            objs[fields[0]] = (fields[1], int(fields[2]))
    return objs


def assert_sound(git_dir: Path, written: dict[str, tuple[str, bytes]]) -> None:
    """Every pack verifies, the whole store passes fsck --strict, and each object reads back exactly."""
    in_packs: dict[str, tuple[str, int]] = {}
    for pack in packs(git_dir):
        in_packs.update(packed(pack))
    for sha, (kind, size) in in_packs.items():
        assert sha in written, f"pack holds {sha}, which was never written"
        assert (kind, size) == (written[sha][0], len(written[sha][1]))
    fsck = run_git(git_dir, "fsck", "--strict", "--full", "--no-dangling", check=False)
    assert fsck.returncode == 0, fsck.stderr.decode()
    assert b"error" not in fsck.stderr and b"warning" not in fsck.stderr, fsck.stderr.decode()
    ids = "".join(f"{sha}\n" for sha in written).encode()
    raw = run_git(git_dir, "cat-file", "--batch", data=ids).stdout
    pos = 0
    for sha, (kind, data) in written.items():
        eol = raw.index(b"\n", pos)
        assert raw[pos:eol].decode() == f"{sha} {kind} {len(data)}"
        assert raw[eol + 1 : eol + 1 + len(data)] == data, f"{kind} {sha} reads back different bytes"
        pos = eol + 1 + len(data) + 1
    assert pos == len(raw)


class Recording(ObjectWriter):
    """An ObjectWriter that also remembers every object it was asked to store (id -> (type, bytes))."""

    def __init__(self, objects: Path):
        super().__init__(objects)
        self.stored: dict[str, tuple[str, bytes]] = {}

    def _store(self, kind: str, data: bytes) -> str:
        sha = super()._store(kind, data)
        assert sha == git_id(kind, data)
        self.stored[sha] = (kind, data)
        return sha


# -- the pack entry header: 1 byte below 16, then 7 more bits a byte ---------------------------------
@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 2047, 2048, 262_143, 262_144, (1 << 20) + 3])
def test_a_blob_of_every_header_length_packs_and_reads_back(git_dir: Path, size: int) -> None:
    writer = Recording(git_dir / "objects")
    data = bytes(i * 7 % 251 for i in range(size))
    with writer.batch():
        tree = writer.write_tree({"odd.bin": data, **filler(PACK_MIN_OBJECTS)})
    assert len(packs(git_dir)) == 1 and not loose(git_dir)
    assert {git_id("blob", data), tree} <= set(packed(packs(git_dir)[0]))
    assert_sound(git_dir, writer.stored)


def test_write_pack_alone_holds_exactly_its_objects(git_dir: Path) -> None:
    objs = {git_id("blob", d): ("blob", d) for d in (b"", b"x" * 16, b"y" * 5000)}
    name = write_pack(git_dir / "objects", objs)
    assert [p.name for p in packs(git_dir)] == [f"pack-{name}.pack"]
    assert packed(packs(git_dir)[0]) == {sha: ("blob", len(d)) for sha, (_, d) in objs.items()}
    assert_sound(git_dir, objs)


def test_trees_and_commits_in_a_pack_pass_fsck_strict(git_dir: Path) -> None:
    """Entry order is git's ("a.b" < "a/" < "a0"), nested trees, a root commit and its child."""
    writer = Recording(git_dir / "objects")
    files = {
        "a.b": b"dot\n",
        "a/x.yaml": b"x: 1\n",
        "a0": b"zero\n",
        "a/b/c/d.yaml": b"deep: true\n",
        "manifests/ClusterResourcePlacement/web/apps/Deployment/web/app.yaml": b"kind: Deployment\n",
        "empty.yaml": b"",
        **filler(PACK_MIN_OBJECTS),
    }
    with writer.batch():
        tree = writer.write_tree(files)
        first = writer.write_commit(tree, [], "first\n\nbody line\n", NOW)
        second = writer.write_commit(writer.write_tree({"bundle.yaml": b"v: 2\n"}), [first], "second", NOW)
    assert len(packs(git_dir)) == 1 and not loose(git_dir)
    kinds = {kind for kind, _ in packed(packs(git_dir)[0]).values()}
    assert kinds == {"blob", "tree", "commit"}
    assert_sound(git_dir, writer.stored)
    listed = run_git(git_dir, "ls-tree", "-r", "--name-only", "-z", second + "~1").stdout.decode().split("\0")
    assert sorted(p for p in listed if p) == sorted(files)


def test_below_pack_min_objects_are_loose_and_at_it_one_pack(git_dir: Path) -> None:
    writer = Recording(git_dir / "objects")
    with writer.batch():  # n blobs + 2 trees (root, cm/) + 1 commit
        writer.write_commit(writer.write_tree(filler(PACK_MIN_OBJECTS - 4, "a")), [], "few", NOW)
    assert not packs(git_dir)
    assert loose(git_dir) == set(writer.stored) and len(writer.stored) == PACK_MIN_OBJECTS - 1
    before = dict(writer.stored)
    writer.stored.clear()
    with writer.batch():
        writer.write_commit(writer.write_tree(filler(PACK_MIN_OBJECTS - 3, "b")), [], "enough", NOW)
    assert len(writer.stored) == PACK_MIN_OBJECTS
    assert len(packs(git_dir)) == 1 and set(packed(packs(git_dir)[0])) == set(writer.stored)
    assert loose(git_dir) == set(before)
    assert_sound(git_dir, {**before, **writer.stored})


def test_objects_the_repository_has_are_not_written_again(git_dir: Path) -> None:
    shared = filler(PACK_MIN_OBJECTS, "s")
    writer = Recording(git_dir / "objects")
    with writer.batch():
        writer.write_tree(shared)
    first = dict(writer.stored)
    [pack1] = packs(git_dir)
    again = Recording(git_dir / "objects")  # a new process: knows nothing, finds everything present
    with again.batch():
        again.write_tree(shared)
    assert packs(git_dir) == [pack1] and not loose(git_dir)
    outside = Recording(git_dir / "objects")  # loose objects, written outside a batch
    outside.write_tree({"loose.yaml": b"written outside a batch\n"})
    assert loose(git_dir) == set(outside.stored)
    third = Recording(git_dir / "objects")  # some present (packed or loose), the rest new
    with third.batch():
        third.write_tree(
            {**shared, "loose.yaml": b"written outside a batch\n", **filler(PACK_MIN_OBJECTS, "n")}
        )
    [pack2] = [p for p in packs(git_dir) if p != pack1]
    assert set(packed(pack2)) == set(third.stored) - set(first) - set(outside.stored)
    assert len(packed(pack2)) == PACK_MIN_OBJECTS + 2  # the new blobs, cm/ and the root tree
    assert_sound(git_dir, {**first, **outside.stored, **third.stored})


def test_a_nested_batch_writes_nothing_until_the_outer_one_ends(git_dir: Path) -> None:
    writer = Recording(git_dir / "objects")
    with writer.batch():
        with writer.batch():
            inner = writer.write_tree(filler(PACK_MIN_OBJECTS, "i"))
        assert not packs(git_dir) and not loose(git_dir)
        assert run_git(git_dir, "cat-file", "-e", inner, check=False).returncode != 0
        outer = writer.write_tree(filler(PACK_MIN_OBJECTS, "o"))
    assert len(packs(git_dir)) == 1
    assert {inner, outer} <= set(packed(packs(git_dir)[0]))
    assert_sound(git_dir, writer.stored)


def test_flush_for_writes_a_pending_object_and_all_it_reaches(git_dir: Path) -> None:
    writer = Recording(git_dir / "objects")
    with writer.batch():
        commit = writer.write_commit(writer.write_tree(filler(PACK_MIN_OBJECTS, "f")), [], "bundle", NOW)
        writer.flush_for(commit)
        assert len(packs(git_dir)) == 1
        assert_sound(git_dir, writer.stored)
        assert run_git(git_dir, "ls-tree", "-r", commit).stdout.count(b"\n") == PACK_MIN_OBJECTS
        writer.flush_for(commit)  # no longer pending: nothing more is written
        small = writer.write_tree({"one.yaml": b"one\n"})
        writer.flush_for(commit)
        assert run_git(git_dir, "cat-file", "-e", small, check=False).returncode != 0
        writer.flush_for(small)  # fewer than PACK_MIN_OBJECTS: loose
        assert len(packs(git_dir)) == 1 and small in loose(git_dir)
    assert_sound(git_dir, writer.stored)


# -- the checks above can fail ------------------------------------------------------------------------
def reseal(pack: Path, n: int, fix_crcs: bool) -> None:
    """Make a damaged pack and index consistent again, as a buggy writer would have written them:
    both trailing checksums (and, with ``fix_crcs``, every entry's CRC) match the damaged bytes."""
    idx_path = pack.with_suffix(".idx")
    body, idx = pack.read_bytes()[:-20], bytearray(idx_path.read_bytes())
    crcs = 8 + 256 * 4 + 20 * n  # version 2 index: header, fan-out, ids, then CRCs, then offsets
    if fix_crcs:
        offsets = list(struct.unpack_from(f">{n}I", idx, crcs + 4 * n))
        ends = dict(zip(sorted(offsets), [*sorted(offsets)[1:], len(body)], strict=True))
        struct.pack_into(f">{n}I", idx, crcs, *(zlib.crc32(body[off : ends[off]]) for off in offsets))
    pack_sum = hashlib.sha1(body).digest()
    idx[-40:-20] = pack_sum
    idx[-20:] = hashlib.sha1(idx[:-20]).digest()
    for path, data in ((pack, body + pack_sum), (idx_path, bytes(idx))):
        path.chmod(0o644)
        path.write_bytes(data)


def test_resealing_an_intact_pack_keeps_it_sound(tmp_path: Path) -> None:
    """reseal() itself breaks nothing: the failures below come from the damage alone."""
    git_dir = tmp_path / "hub.git"
    run_git(tmp_path, "init", "-q", "--bare", str(git_dir))
    writer = Recording(git_dir / "objects")
    with writer.batch():
        writer.write_tree(filler(PACK_MIN_OBJECTS, "c"))
    [pack] = packs(git_dir)
    reseal(pack, len(writer.stored), fix_crcs=True)
    assert_sound(git_dir, writer.stored)


@pytest.mark.parametrize("where", ["idx-crc", "idx-offset", "pack-size-header", "pack-data"])
def test_the_checks_catch_a_wrong_index_or_entry(tmp_path: Path, where: str) -> None:
    """A wrong CRC or offset in the .idx, a wrong size header or damaged data in the .pack — each
    with the files' checksums made consistent again — fails both verify-pack and fsck, so the
    tests above would catch a writer (git's, or one written here) that got any of them wrong."""
    git_dir = tmp_path / "hub.git"
    run_git(tmp_path, "init", "-q", "--bare", str(git_dir))
    writer = Recording(git_dir / "objects")
    with writer.batch():
        writer.write_tree(filler(PACK_MIN_OBJECTS, "c"))
    [pack] = packs(git_dir)
    n = len(writer.stored)
    crcs = 8 + 256 * 4 + 20 * n
    target = pack.with_suffix(".idx") if where.startswith("idx") else pack
    data = bytearray(target.read_bytes())
    at = {
        "idx-crc": crcs + 4 * (n // 2),
        "idx-offset": crcs + 4 * n + 4 * (n // 2) + 3,
        "pack-size-header": 12,
        "pack-data": 12 + 6,
    }[where]
    data[at] ^= 0x01
    target.chmod(0o644)
    target.write_bytes(bytes(data))
    reseal(pack, n, fix_crcs=where.startswith("pack"))
    verify = run_git(git_dir, "verify-pack", "-v", str(pack.with_suffix(".idx")), check=False)
    assert verify.returncode != 0
    assert b"mismatch" not in verify.stderr  # resealed: git rebuilds the index and finds it differs
    assert run_git(git_dir, "fsck", "--strict", "--full", "--no-dangling", check=False).returncode != 0
    with pytest.raises((AssertionError, subprocess.CalledProcessError)):
        assert_sound(git_dir, writer.stored)


def test_a_pack_git_will_not_take_is_a_git_failure(tmp_path: Path) -> None:
    (tmp_path / "objects").mkdir()  # not a repository
    with pytest.raises(GitFailure, match="cannot write a pack of 1 objects"):
        write_pack(tmp_path / "objects", {git_id("blob", b"x"): ("blob", b"x")})
