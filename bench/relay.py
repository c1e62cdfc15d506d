"""A loopback UDP/TCP relay that holds every packet for a fixed delay each way.

This kernel has no netem, so the benchmarks put this between the resolver and BIND to give
DNS a real round-trip time. Run: python bench/relay.py LISTEN_PORT UPSTREAM_PORT DELAY_MS
"""

from __future__ import annotations

import asyncio
import sys

HOST = "127.0.0.1"


class UdpRelay(asyncio.DatagramProtocol):
    """Each client gets its own upstream socket; both directions are delayed."""

    def __init__(self, upstream: int, delay: float) -> None:
        self.upstream = upstream
        self.delay = delay
        self.transport: asyncio.DatagramTransport | None = None
        self.clients: dict[tuple[str, int], asyncio.DatagramTransport] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        asyncio.get_running_loop().call_later(
            self.delay, lambda: asyncio.ensure_future(self.forward(data, addr))
        )

    async def forward(self, data: bytes, addr: tuple[str, int]) -> None:
        up = self.clients.get(addr)
        if up is None:
            relay = self

            class Back(asyncio.DatagramProtocol):
                def datagram_received(self, reply: bytes, _: tuple[str, int]) -> None:
                    assert relay.transport is not None
                    asyncio.get_running_loop().call_later(
                        relay.delay, relay.transport.sendto, reply, addr
                    )

            up, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                Back, remote_addr=(HOST, self.upstream)
            )
            self.clients[addr] = up
            if len(self.clients) > 4096:  # bound memory: forget the oldest client
                old = next(iter(self.clients))
                self.clients.pop(old).close()
        up.sendto(data)


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    try:
        while data := await reader.read(65536):
            await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


async def tcp_client(r: asyncio.StreamReader, w: asyncio.StreamWriter, up: int, d: float) -> None:
    await asyncio.sleep(d)  # SYN
    ur, uw = await asyncio.open_connection(HOST, up)
    await asyncio.gather(pipe(r, uw, d), pipe(ur, w, d), return_exceptions=True)


async def main(listen: int, upstream: int, delay_ms: float) -> None:
    delay = delay_ms / 1000
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(
        lambda: UdpRelay(upstream, delay), local_addr=(HOST, listen)
    )
    server = await asyncio.start_server(
        lambda r, w: tcp_client(r, w, upstream, delay), HOST, listen
    )
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))
