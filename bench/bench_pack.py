"""Who should write the hub's packs: fleetsync's own pack + ``.idx`` writer, or git?

A hub reconcile ends ``ObjectWriter.batch()`` (reconciler/gitstore/objects.py) with every new object in
memory (id -> (type, bytes)) and writes them as one pack. This times the ways to get such a set
into a repository's object store, end to end: from the in-memory map until the objects are
readable by git (each result is then checked with one ``git cat-file --batch-check``, untimed).

- own: the pack stream and its version 2 ``.idx`` both built in Python (the hand-written writer
  the module had; kept here as the anchor, so the decision can be checked again);
- index-pack: the pack stream built in Python, ``git index-pack --stdin`` verifies every object
  and writes the pack and its ``.idx`` into objects/pack (what reconciler/gitstore/objects.py does);
- loose + pack-objects: every object as a loose file, then ``git pack-objects`` and
  ``git prune-packed`` (what letting git pack costs when it must first be given the objects).

``git fast-import`` is not measured: it builds trees itself from file lists on a ref's commits and
cannot take the raw tree and commit objects the hub has already hashed.

Objects: what a hub writes for one bundle per cluster — ~20 manifests of realistic size (Deployment,
Service, ConfigMap, ClusterRole, one of them the same for every cluster), the bundle file, the
nested trees of ``manifests/<placement>/<group>/<kind>/<namespace>/``, a commit — for as many
clusters as the size needs. Each repository already holds one pack of an earlier reconcile.

Figure: index-pack / own at 1k, 10k and 50k objects (seconds: the best of ``--repeat`` runs).
Usage: python bench/bench_pack.py [--sizes 1000,10000,50000] [--repeat 3] [--ways own,index-pack]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import struct
import subprocess
import tempfile
import time
import zlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from reconciler.gitstore.objects import ObjectWriter, write_pack

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
Objects = dict[str, tuple[str, bytes]]


def _deployment(cluster: int, i: int) -> bytes:
    return (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  namespace: web\n"
        f"  annotations:\n    fleet.example.com/cluster: member-{cluster}\n"
        f"  labels:\n    app.kubernetes.io/name: app-{i}\n    app.kubernetes.io/managed-by: fleetsync\n"
        f"spec:\n  replicas: {2 + cluster % 4}\n  selector:\n    matchLabels: {{app: app-{i}}}\n"
        f"  template:\n    metadata:\n      labels: {{app: app-{i}}}\n    spec:\n      containers:\n"
        f"        - name: web\n          image: registry.example.com/web/app-{i}:1.27.{i % 9}\n"
        f"          ports:\n            - {{containerPort: 8080, name: http}}\n"
        f"          resources:\n            requests: {{cpu: 100m, memory: 128Mi}}\n"
        f"            limits: {{cpu: 500m, memory: 256Mi}}\n"
    ).encode()


def _service(cluster: int, i: int) -> bytes:
    return (
        f"apiVersion: v1\nkind: Service\nmetadata:\n  name: app-{i}\n  namespace: web\n"
        f"  annotations:\n    fleet.example.com/cluster: member-{cluster}\n"
        f"spec:\n  selector: {{app: app-{i}}}\n  ports:\n    - {{name: http, port: 80, targetPort: http}}\n"
    ).encode()


def _configmap(cluster: int, i: int) -> bytes:
    return (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings-{i}\n  namespace: web\n"
        f"data:\n  region: region-{cluster % 5}\n  settings.yaml: |\n    feature: on\n    shard: {i}\n"
    ).encode()


ROLE = (
    b"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: web-reader\n"
    b"rules:\n  - apiGroups: ['']\n    resources: [configmaps, services]\n    verbs: [get, list, watch]\n"
)


def bundle(cluster: int, generation: int) -> dict[str, bytes]:
    top = "manifests/ClusterResourcePlacement/web"
    files = {f"{top}/rbac.authorization.k8s.io/ClusterRole/_cluster/web-reader.yaml": ROLE}
    for i in range(6):
        files[f"{top}/apps/Deployment/web/app-{i}.yaml"] = _deployment(cluster, i + 100 * generation)
        files[f"{top}/core/Service/web/app-{i}.yaml"] = _service(cluster, i + 100 * generation)
        files[f"{top}/core/ConfigMap/web/settings-{i}.yaml"] = _configmap(cluster, i + 100 * generation)
    files["bundle.yaml"] = (
        f"apiVersion: fleetsync.io/v1alpha1\nkind: Bundle\ncluster: member-{cluster}\n"
        f"generation: {generation}\nplacements: [ClusterResourcePlacement/web]\n"
    ).encode()
    return files


class _Collect(ObjectWriter):
    """An ObjectWriter that hands its pending objects over instead of writing them."""

    def __init__(self) -> None:
        super().__init__(Path("/nonexistent/objects"))
        self.collected: Objects = {}

    def flush(self) -> None:
        self.collected.update(self._pending or {})
        self._pending = {}


def hub_objects(size: int, generation: int) -> Objects:
    """At least ``size`` objects: whole bundles (blobs, trees, one commit each), deduplicated."""
    writer = _Collect()
    with writer.batch():
        cluster = 0
        while writer._pending is not None and len(writer._pending) < size:
            tree = writer.write_tree(bundle(cluster, generation))
            writer.write_commit(tree, [], f"bundle member-{cluster}", NOW)
            cluster += 1
    return writer.collected


# -- the anchor: fleetsync's hand-written pack + version 2 index writer, as it was -------------------
_PACK_TYPES = {"commit": 1, "tree": 2, "blob": 3}


def own_write(objects_dir: Path, objects: Mapping[str, tuple[str, bytes]]) -> None:
    body = [b"PACK" + struct.pack(">II", 2, len(objects))]
    offset = len(body[0])
    entries: list[tuple[bytes, int, int]] = []  # (binary id, crc32, offset)
    for sha, (kind, data) in objects.items():
        size = len(data)
        head = bytearray()
        byte = (_PACK_TYPES[kind] << 4) | (size & 0x0F)
        size >>= 4
        while size:
            head.append(byte | 0x80)
            byte, size = size & 0x7F, size >> 7
        head.append(byte)
        entry = bytes(head) + zlib.compress(data, 1)
        entries.append((bytes.fromhex(sha), zlib.crc32(entry), offset))
        body.append(entry)
        offset += len(entry)
    pack = b"".join(body)
    pack_sum = hashlib.sha1(pack).digest()
    entries.sort()
    fanout = [0] * 256
    for sha_bin, _, _ in entries:
        fanout[sha_bin[0]] += 1
    for i in range(1, 256):
        fanout[i] += fanout[i - 1]
    large = [off for _, _, off in entries if off >= 1 << 31]
    small = [off if off < 1 << 31 else (1 << 31) | large.index(off) for _, _, off in entries]
    index = b"".join(
        [
            b"\377tOc",
            struct.pack(">I", 2),
            struct.pack(">256I", *fanout),
            b"".join(e[0] for e in entries),
            struct.pack(f">{len(entries)}I", *(e[1] for e in entries)),
            struct.pack(f">{len(small)}I", *small),
            struct.pack(f">{len(large)}Q", *large),
            pack_sum,
        ]
    )
    index += hashlib.sha1(index).digest()
    name = pack_sum.hex()
    pack_dir = objects_dir / "pack"
    pack_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write(pack_dir / f"pack-{name}.pack", pack + pack_sum)
    _atomic_write(pack_dir / f"pack-{name}.idx", index)  # the index last: git looks for it


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="tmp_obj_")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o444)
    os.replace(tmp, path)


# -- letting git do it -------------------------------------------------------------------------------
def _git(objects_dir: Path, args: list[str], data: bytes) -> bytes:
    env = {**os.environ, "GIT_DIR": str(objects_dir.parent), "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", *args], input=data, env=env, capture_output=True, check=True).stdout


def loose_pack_objects_write(objects_dir: Path, objects: Mapping[str, tuple[str, bytes]]) -> None:
    writer = ObjectWriter(objects_dir)
    for sha, (kind, data) in objects.items():
        writer._write_loose(sha, kind, data)
    ids = "".join(f"{sha}\n" for sha in objects).encode()
    _git(objects_dir, ["pack-objects", "--quiet", str(objects_dir / "pack" / "pack")], ids)
    _git(objects_dir, ["prune-packed", "--quiet"], b"")


WAYS: dict[str, Callable[[Path, Mapping[str, tuple[str, bytes]]], object]] = {
    "own": own_write,
    "index-pack": write_pack,  # what reconciler/gitstore/objects.py does
    "loose+pack-objects": loose_pack_objects_write,
}


def measure(way: str, objects: Objects, earlier: Objects) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-pack-") as tmp:
        repo = Path(tmp) / "hub.git"
        subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
        write_pack(repo / "objects", earlier)  # an earlier reconcile's pack
        start = time.perf_counter()
        WAYS[way](repo / "objects", objects)
        took = time.perf_counter() - start
        check = (
            _git(
                repo / "objects",
                ["cat-file", "--batch-check=%(objectname) %(objecttype)"],
                "".join(f"{sha}\n" for sha in objects).encode(),
            )
            .decode()
            .splitlines()
        )
        expected = [f"{sha} {kind}" for sha, (kind, _) in objects.items()]
        if check != expected:
            raise SystemExit(f"{way}: git cannot read back what was written ({len(objects)} objects)")
        return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ways", default=",".join(WAYS), help="which of: " + ", ".join(WAYS))
    args = parser.parse_args()
    print(
        f"git: {subprocess.run(['git', '--version'], capture_output=True, text=True).stdout.strip()}; "
        f"{os.cpu_count()} cpus; seconds (best of {args.repeat}) to make N in-memory objects readable by git:"
    )
    cols = tuple(w for w in WAYS if w in args.ways.split(","))
    if not {"own", "index-pack"} <= set(cols):
        parser.error("--ways needs own and index-pack (the figure is their ratio)")
    print(f"{'objects':>8} " + " ".join(f"{c:>19}" for c in cols) + f" {'index-pack/own':>15}")
    for size in (int(s) for s in args.sizes.split(",")):
        objects, earlier = hub_objects(size, 1), hub_objects(size, 0)
        runs: dict[str, list[float]] = {way: [] for way in cols}
        for _ in range(args.repeat):  # interleaved, so a busy moment on a shared machine hits every way
            for way in cols:
                runs[way].append(measure(way, objects, earlier))
        best = {way: min(times) for way, times in runs.items()}
        print(
            f"{len(objects):>8} "
            + " ".join(f"{best[c]:>19.3f}" for c in cols)
            + f" {best['index-pack'] / best['own']:>14.2f}x",
            flush=True,
        )
    print(
        "figure: index-pack / own — what letting git write and index the pack costs against the "
        "hand-written pack + .idx writer"
    )


if __name__ == "__main__":
    main()
