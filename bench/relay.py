"""A loopback UDP/TCP relay that holds every packet for a fixed delay each way.

This kernel has no netem, so the benchmarks put this between the resolver and BIND to give
DNS a real round-trip time, and optionally lose UDP packets: each datagram, either way, is
dropped with probability LOSS_PERCENT/100 from a seeded generator, so a run is repeatable.
Run: python bench/relay.py LISTEN_PORT UPSTREAM_PORT DELAY_MS [LOSS_PERCENT [SEED]]
"""

from __future__ import annotations

import asyncio
import random
import socket
import sys

HOST = "127.0.0.1"
MAX_CLIENTS = 16384  # upstream sockets kept (one per client address); the oldest is dropped


class UdpRelay(asyncio.DatagramProtocol):
    """Each client gets its own upstream socket; both directions are delayed.

    Upstream sockets are plain non-blocking sockets watched with add_reader: creating one
    costs microseconds, so the relay adds the delay it is asked for and little else.
    """

    def __init__(self, upstream: int, delay: float, loss: float = 0.0, seed: int = 0) -> None:
        self.upstream = upstream
        self.delay = delay
        self.loss = loss
        self.random = random.Random(seed)
        self.transport: asyncio.DatagramTransport | None = None
        self.clients: dict[tuple[str, int], socket.socket] = {}
        self.dropped = 0

    def lost(self) -> bool:
        """Whether this datagram is dropped (seeded, so the same run loses the same ones)."""
        if self.loss and self.random.random() < self.loss:
            self.dropped += 1
            return True
        return False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self.lost():
            asyncio.get_running_loop().call_later(self.delay, self.forward, data, addr)

    def forward(self, data: bytes, addr: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        up = self.clients.get(addr)
        if up is None:
            up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            up.setblocking(False)
            up.connect((HOST, self.upstream))
            loop.add_reader(up.fileno(), self.back, up, addr)
            self.clients[addr] = up
            if len(self.clients) > MAX_CLIENTS:  # bound memory: forget the oldest client
                old_addr = next(iter(self.clients))
                old = self.clients.pop(old_addr)
                loop.remove_reader(old.fileno())
                old.close()
        up.send(data)

    def back(self, up: socket.socket, addr: tuple[str, int]) -> None:
        try:
            reply = up.recv(65535)
        except OSError:
            return
        assert self.transport is not None
        if self.lost():
            return
        asyncio.get_running_loop().call_later(self.delay, self.transport.sendto, reply, addr)


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


async def main(listen: int, upstream: int, delay_ms: float, loss_pct: float, seed: int) -> None:
    delay = delay_ms / 1000
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(
        lambda: UdpRelay(upstream, delay, loss_pct / 100, seed), local_addr=(HOST, listen)
    )
    server = await asyncio.start_server(
        lambda r, w: tcp_client(r, w, upstream, delay), HOST, listen
    )
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    loss = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    seed = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), loss, seed))
