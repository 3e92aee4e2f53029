"""A user-space TCP proxy that adds network delay, for benchmarking downloaders on loopback.

Every chunk of bytes in flight, in either direction, is delivered `one_way_ms` after the proxy read it, so a
request/response round trip costs 2*one_way_ms. A new connection's first client bytes also wait `connect_ms`
(the TCP handshake's round trip, which loopback otherwise makes free). Bytes are passed through untouched, so
TLS is end to end between the client and the upstream server.

Delays are pipelined, not sequential: each chunk is timestamped when read and queued; one timer per direction
writes out every chunk whose time has come, so many chunks are in flight at once and throughput is not capped by
the delay. Per connection and direction, order is preserved (due times never decrease). Written with asyncio
protocols (no task per chunk) to keep the proxy's own CPU cost low: it shares a core with the server.

    python bench/delay_proxy.py --upstream 127.0.0.1:8443 [--port 0] [--one-way-ms 20] [--connect-ms 40]

prints `PROXY 127.0.0.1:<port>` once listening; stops on SIGTERM/SIGINT.
"""
import argparse, asyncio, collections, signal


class _Delayed:
    "One direction of a connection: chunks written to `dst` `delay` s after they arrived (not before `not_before`)."
    def __init__(self, loop, delay, not_before=0., on_eof=None):
        self.loop, self.delay, self.not_before, self.on_eof = loop, delay, not_before, on_eof
        self.q, self.dst, self.timer, self.done = collections.deque(), None, None, False

    def feed(self, data):  # data None: end of stream
        if self.q and self.q[-1][1] is None: return  # already ended
        self.q.append((max(self.loop.time(), self.not_before) + self.delay, data))
        self._schedule()

    def connect(self, dst): self.dst = dst; self._schedule()

    def _schedule(self):
        if self.timer is None and self.dst is not None and self.q:
            self.timer = self.loop.call_at(self.q[0][0], self._flush)

    def _flush(self):
        self.timer, now = None, self.loop.time()
        while self.q and self.q[0][0] <= now + 0.0005:
            data = self.q.popleft()[1]
            if self.dst.is_closing(): self.q.clear(); break
            if data is not None: self.dst.write(data); continue
            try:
                if self.dst.can_write_eof(): self.dst.write_eof()
            except OSError: pass
            self.done = True
            if self.on_eof: self.on_eof()
        self._schedule()


class _Pipe(asyncio.Protocol):
    "Feeds what one socket receives into a `_Delayed` half."
    def __init__(self, half, on_lost=None): self.half, self.on_lost = half, on_lost
    def connection_made(self, transport): self.transport = transport
    def data_received(self, data): self.half.feed(data)
    def eof_received(self): self.half.feed(None); return True  # keep the socket open: half close
    def connection_lost(self, exc):
        self.half.feed(None)
        if self.on_lost: self.on_lost(exc)


class _Connection(_Pipe):
    "A client connection: its bytes go upstream (`up`), the upstream's come back (`down`), both delayed."
    def __init__(self, proxy):
        self.proxy, self.loop = proxy, asyncio.get_running_loop()
        # the client's bytes reach the server a handshake RTT + one way after accept; the server's, one way after
        self.up = _Delayed(self.loop, proxy.one_way, self.loop.time() + proxy.connect, on_eof=self.close)
        self.down = _Delayed(self.loop, proxy.one_way, on_eof=self.close)
        self.upstream = None
        super().__init__(self.up, on_lost=lambda exc: exc and self.close(force=True))

    def connection_made(self, transport):
        super().connection_made(transport); self.down.connect(transport)
        self.loop.create_task(self._dial())

    async def _dial(self):
        try: self.upstream, _ = await self.loop.create_connection(
                lambda: _Pipe(self.down, on_lost=lambda exc: exc and self.close(force=True)), self.proxy.uh, self.proxy.up)
        except OSError: self.transport.close(); return
        self.up.connect(self.upstream)

    def close(self, force=False):
        "Close both sockets once both directions have ended (or at once after an error)."
        if force or (self.up.done and self.down.done):
            for t in (self.transport, self.upstream):
                if t is not None and not t.is_closing(): t.close()


class DelayProxy:
    "Forward 127.0.0.1:port to upstream with `one_way_ms` per chunk each way and `connect_ms` more on connect."
    def __init__(self, upstream_host, upstream_port, port=0, one_way_ms=20., connect_ms=40., host='127.0.0.1'):
        self.uh, self.up, self.host, self.port = upstream_host, upstream_port, host, port
        self.one_way, self.connect = one_way_ms / 1000, connect_ms / 1000

    def _accept(self): return _Connection(self)

    async def serve(self, ready=None):
        server = await asyncio.get_running_loop().create_server(self._accept, self.host, self.port, backlog=1024)
        self.port = server.sockets[0].getsockname()[1]
        if ready: ready(self)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT): loop.add_signal_handler(sig, stop.set)
        async with server: await stop.wait()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--upstream', required=True, help='host:port of the server behind the proxy')
    p.add_argument('--port', type=int, default=0)
    p.add_argument('--one-way-ms', type=float, default=20.)
    p.add_argument('--connect-ms', type=float, default=40.)
    a = p.parse_args(argv)
    uh, up = a.upstream.rsplit(':', 1)
    proxy = DelayProxy(uh, int(up), a.port, a.one_way_ms, a.connect_ms)
    asyncio.run(proxy.serve(ready=lambda p: print(f'PROXY {p.host}:{p.port}', flush=True)))


if __name__ == '__main__': main()
