"""A plain asyncio server with a hot request handler.

python examples/asyncio_server.py [--port 8889]
"""

from __future__ import annotations

import argparse
import asyncio
import json

import hotfunc
from hotfunc import hot

HITS = {"count": 0}  # survives every edit


@hot
async def respond(path: str) -> dict[str, object]:
    HITS["count"] += 1
    return {"path": path, "hits": HITS["count"]}


async def serve_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    request = await reader.readuntil(b"\r\n\r\n")
    path = request.split(b" ", 2)[1].decode()
    body = json.dumps(await respond(path)).encode()
    head = (
        f"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    writer.close()


async def main(port: int) -> None:
    hotfunc.start()
    server = await asyncio.start_server(serve_client, "127.0.0.1", port)
    print(f"serving on http://127.0.0.1:{port}/", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8889)
    asyncio.run(main(parser.parse_args().port))
