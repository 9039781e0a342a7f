"""``python -m kubesim`` / ``fleetsync dev kube-server``: serve one simulated cluster until stopped."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from kubesim.server import KubeSim


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="kubesim", description="Serve a simulated Kubernetes API on 127.0.0.1."
    )
    parser.add_argument("--kubeconfig", required=True, help="where to write a kubeconfig for the server")
    parser.add_argument("--controllers", default="instant", help="instant, never or delay:SECONDS")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free port)")
    parser.add_argument("--crd-establish-delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    try:
        sim = KubeSim(
            controllers=args.controllers, crd_establish_delay=args.crd_establish_delay, port=args.port
        )
    except ValueError as e:
        print(f"kubesim: {e}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with sim:
        sim.write_kubeconfig(args.kubeconfig)
        print(f"kubesim serving {sim.url} (kubeconfig: {args.kubeconfig})", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
