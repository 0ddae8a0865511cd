"""The peer's own ceiling: smpp34's Python client submitting to smsc.py.

Measures how fast the Python SMSC accepts submit_sm when driven by its own
library's client, so the Rust client's figures can be read against it.

Usage: python bench_client.py --port PORT --count N --window W
Prints: RESULT submits=N seconds=S submits_per_s=R
"""

from __future__ import annotations

import argparse
import asyncio
import time

import smpp34


async def main(args) -> None:
    client = smpp34.Client(host="127.0.0.1", port=args.port, system_id="bench", password="bench",
                           bind_type="TRX", window_size=args.window)
    smsc = await client.connect()
    slots = asyncio.Semaphore(args.window)
    failures = 0

    async def one() -> None:
        nonlocal failures
        async with slots:
            resp = await smsc.submit_sm("4790000001", b"bench", source_addr="VARSEL")
            failures += 0 if resp.is_success else 1

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(args.count)))
    seconds = time.perf_counter() - started
    await smsc.unbind()
    print(f"RESULT submits={args.count} failures={failures} seconds={seconds:.3f} "
          f"submits_per_s={args.count / seconds:.0f}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--window", type=int, default=50)
    asyncio.run(main(parser.parse_args()))
