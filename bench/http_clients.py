"""Micro benchmark: the same GETs against local targets with today's ``requests`` in threads,
httpx.AsyncClient and aiohttp (the probe client kept, ``services.aionet``), issue 7.

    .venv/bin/python bench/http_clients.py --requests 3000 --concurrency 50 --targets 100

Each client sends ``--requests`` GETs spread over ``--targets`` distinct loopback URLs (one
port each) served by an aiohttp process; it reports wall time, this process's CPU per request
and requests per second. CPU is the figure that matters for a scheduler on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("LOG_LEVEL", "warning")


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(label: str, run: callable, n: int) -> None:  # type: ignore[valid-type]
    c0, t0 = cpu(), time.perf_counter()
    ok = run()
    wall, used = time.perf_counter() - t0, cpu() - c0
    print(f"{label:24s} ok={ok}/{n} wall={wall:.2f}s rps={n / wall:.0f} cpu_per_request={1000 * used / n:.3f}ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--targets", type=int, default=100)
    args = parser.parse_args()

    import django

    from core.env import settings_module

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module())
    django.setup()
    from engine_e2e import fleet

    ready: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    proc = multiprocessing.Process(target=fleet, args=(args.targets, ready), daemon=True)
    proc.start()
    ports = ready.get(timeout=60)
    urls = [f"http://127.0.0.1:{ports[i % len(ports)]}/ok/{i}" for i in range(args.requests)]

    from monitoring.services import aionet, net

    def with_requests() -> int:
        def one(url: str) -> bool:
            return net.http_request("GET", url, timeout=5).status_code == 200

        with ThreadPoolExecutor(args.concurrency) as pool:
            return sum(pool.map(one, urls))

    def with_httpx() -> int:
        import httpx

        async def go() -> int:
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=len(ports))
            async with httpx.AsyncClient(timeout=5, limits=limits, trust_env=False) as client:
                slots = asyncio.Semaphore(args.concurrency)

                async def one(url: str) -> bool:
                    async with slots:
                        return (await client.get(url)).status_code == 200

                return sum(await asyncio.gather(*(one(u) for u in urls)))

        return asyncio.run(go())

    def with_aiohttp() -> int:
        async def go() -> int:
            client = aionet.Client()
            slots = asyncio.Semaphore(args.concurrency)

            async def one(url: str) -> bool:
                async with slots:
                    return (await client.http_request("GET", url, timeout=5)).status_code == 200

            try:
                return sum(await asyncio.gather(*(one(u) for u in urls)))
            finally:
                await client.close()

        return asyncio.run(go())

    print(f"{args.requests} GETs, concurrency {args.concurrency}, {len(ports)} targets; 2 cores shared with other work")
    try:
        measure("requests + threads", with_requests, args.requests)
        measure("httpx.AsyncClient", with_httpx, args.requests)
        measure("aiohttp (aionet)", with_aiohttp, args.requests)
    finally:
        proc.terminate()


if __name__ == "__main__":
    main()
