"""fleetsync's benchmarks, a package run from the repository root as ``python -m bench.bench_x``.

Run as modules, the benches import each other (``from bench import bench_render``) and the test
support package (``tests.support.gitdaemon``) by their package names, with no ``sys.path`` edits
and no loading of files by path; ``./dev bench`` runs every one that way.
"""
