"""Test the scale-out recipe: app replicas behind nginx with sticky sessions, on loopback ports.

Runs deploy/nginx.conf itself (only its addresses are replaced) with Debian's nginx, first in
front of one app process, then in front of two, and drives both with the same load from
bench/load.py through nginx. It prints each run's summary, the throughput ratio, how the sessions
spread over the replicas, and fails (exit 1) on any error or on a session whose requests reached
two replicas (stickiness broken).

    python bench/scaleout.py [--sessions 40] [--duration 30] [--think 0.5] [--affinity cookie|ip]

``--affinity ip`` swaps the cookie hash for ip_hash and connects each session from its own address
(127.0.K.1: ip_hash keys on the first three bytes of an IPv4 address).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import (
    ROOT,
    Report,
    ServerStats,
    free_port,
    run_load,
    start_server,
    stop_process,
    wait_healthy,
)

__all__ = ["nginx_config", "run_nginx"]

RECIPE = ROOT / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# Every request's route key and replica, to check stickiness and spread.
_LOG = '$explorer_route $upstream_addr "$request_uri"'


def nginx_config(
    prefix: Path, port: int, upstreams: Sequence[str], *, affinity: str = "cookie"
) -> str:
    """Return a complete nginx.conf that serves deploy/nginx.conf on 127.0.0.1:port."""
    recipe = RECIPE.read_text()
    servers = "".join(f"    server {address};\n" for address in upstreams)
    recipe, count = re.subn(r"(?m)^    server \S+;\n(?:    server \S+;\n)*", servers, recipe)
    recipe = recipe.replace("listen 80;", f"listen 127.0.0.1:{port};")
    if affinity == "ip":
        recipe = recipe.replace("hash $explorer_route consistent;", "ip_hash;")
    if count != 1 or "listen 127.0.0.1" not in recipe:
        raise RuntimeError(f"{RECIPE} no longer has the upstream/listen lines this bench replaces")
    temp = "\n".join(
        f"    {kind}_temp_path {prefix}/{kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    temp += f"\n    uwsgi_temp_path {prefix}/uwsgi;\n    scgi_temp_path {prefix}/scgi;"
    return f"""daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
{temp}
    log_format route '{_LOG}';
    access_log {prefix}/access.log route;
{recipe}
}}
"""


@contextlib.contextmanager
def run_nginx(
    upstreams: Sequence[str], *, affinity: str = "cookie"
) -> Iterator[tuple[str, int, Path]]:
    """Run nginx in front of upstreams on a free loopback port; yield (URL, pid, access log)."""
    with tempfile.TemporaryDirectory(prefix="explorer-nginx-") as directory:
        prefix = Path(directory)
        port = free_port()
        (prefix / "nginx.conf").write_text(nginx_config(prefix, port, upstreams, affinity=affinity))
        command = [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf")]
        with (prefix / "stderr.log").open("w+") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
            url = f"http://127.0.0.1:{port}"
            try:
                wait_healthy(url, 30, process, log)
                yield url, process.pid, prefix / "access.log"
            finally:
                stop_process(process)


def _children(pid: int) -> list[int]:
    """Return the pids of a process's children (nginx's workers)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _routes(access_log: Path) -> tuple[collections.Counter, list[str]]:
    """Return sessions per replica (WebSocket connections) and the route keys seen on 2 replicas."""
    replicas: dict[str, set[str]] = collections.defaultdict(set)
    sessions: collections.Counter = collections.Counter()
    for line in access_log.read_text().splitlines():
        route, upstream, uri = line.split(" ", 2)
        replicas[route].add(upstream)
        if uri.startswith('"/_stcore/stream'):
            sessions[upstream] += 1
    split = [route for route, seen in replicas.items() if len(seen) > 1]
    return sessions, split


@contextlib.contextmanager
def _apps(count: int, args: argparse.Namespace) -> Iterator[list[tuple[str, int]]]:
    """Start ``count`` app processes with the launcher; yield their (URL, pid)."""
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(start_server(args.server_arg, launcher=True, root=args.app_dir))
            for _ in range(count)
        ]


def _sources(affinity: str, sessions: int) -> list[str]:
    # ip_hash keys on the first three bytes of an IPv4 address: one /24 per session.
    return [f"127.0.{k % 254 + 1}.1" for k in range(sessions)] if affinity == "ip" else []


def run_replicas(count: int, args: argparse.Namespace) -> tuple[Report, dict[str, object]]:
    """Serve ``count`` replicas behind nginx, run the load through it; return report and extras."""
    with (
        _apps(count, args) as apps,
        run_nginx([url.removeprefix("http://") for url, _ in apps], affinity=args.affinity) as (
            url,
            nginx_pid,
            access_log,
        ),
    ):
        proxy = ServerStats([nginx_pid, *_children(nginx_pid)])
        proxy_before, client_before = sum(proxy.cpu()), _self_cpu()
        report = asyncio.run(
            run_load(
                url,
                sessions=args.sessions,
                duration=args.duration,
                think=args.think,
                pids=[pid for _, pid in apps],
                sources=_sources(args.affinity, args.sessions),
            )
        )
        reruns = max(1, report.reruns)
        extras = {
            "nginx ms/rerun": (sum(proxy.cpu()) - proxy_before) / reruns * 1e3,
            "client ms/rerun": (_self_cpu() - client_before) / reruns * 1e3,
        }
        time.sleep(0.5)  # let nginx write the closing WebSockets' log lines
        extras["sessions per replica"], extras["split"] = _routes(access_log)
    return report, extras


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--think", type=float, default=0.5)
    parser.add_argument("--affinity", choices=("cookie", "ip"), default="cookie")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--server-arg", action="append", default=[], help="for every app process")
    parser.add_argument("--app-dir", type=Path, default=ROOT, help="where app.py is")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the load through nginx with 1 then 2 replicas; print the ratio; 1 on any error."""
    args = _arguments(argv)
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    results = {}
    failed = False
    for count in args.replicas:
        report, extras = run_replicas(count, args)
        results[count] = report
        spread = dict(extras["sessions per replica"])
        print(f"{count} replica(s) behind nginx ({args.affinity}): {report.summary()}")
        print(
            f"  nginx {extras['nginx ms/rerun']:.1f} ms/rerun, load client "
            f"{extras['client ms/rerun']:.1f} ms/rerun, sessions per replica {spread}"
        )
        for problem in report.problems:
            print(f"  error: {problem}")
        if extras["split"]:
            print(f"  stickiness broken for {len(extras['split'])} route keys")
        failed |= bool(report.errors or extras["split"])
    if len(results) > 1:
        base, top = min(results), max(results)
        ratio = _rate(results[top]) / max(_rate(results[base]), 1e-9)
        print(f"throughput {top} vs {base} replica(s): {ratio:.2f}x")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 1 if failed else 0


def _rate(report: Report) -> float:
    return report.reruns / report.wall if report.wall else 0.0


if __name__ == "__main__":
    sys.exit(main())
