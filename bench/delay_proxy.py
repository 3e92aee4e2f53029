"""A user-space TCP proxy that adds network delay, for benchmarking downloaders on loopback.

Every chunk of bytes in flight, in either direction, is delivered `one_way_ms` after the proxy read it, so a
request/response round trip costs 2*one_way_ms. A new connection's first client bytes also wait `connect_ms`
(the TCP handshake's round trip, which loopback otherwise makes free). Bytes are passed through untouched, so
TLS is end to end between the client and the upstream server.

Delays are pipelined, not sequential: a reader timestamps each chunk and queues it, a writer releases it when its
time comes, so many chunks can be in flight at once and throughput is not capped by the delay. Per connection and
direction, order is preserved (release times never decrease).

    python bench/delay_proxy.py --upstream 127.0.0.1:8443 [--port 0] [--one-way-ms 20] [--connect-ms 40]

prints `PROXY 127.0.0.1:<port>` once listening; stops on SIGTERM/SIGINT.
"""
import argparse, asyncio, signal, sys, time

CHUNK = 256 * 1024


async def _pump(reader, writer, delay_s, not_before=0.0):
    "Copy reader->writer, delivering each chunk `delay_s` after it was read (and never before `not_before`)."
    q = asyncio.Queue()

    async def read():
        try:
            while data := await reader.read(CHUNK):
                q.put_nowait((max(time.monotonic(), not_before) + delay_s, data))
        except (ConnectionError, OSError):
            pass
        finally:
            q.put_nowait((max(time.monotonic(), not_before) + delay_s, None))  # EOF, delayed like data

    async def write():
        try:
            while True:
                due, data = await q.get()
                if (wait := due - time.monotonic()) > 0: await asyncio.sleep(wait)
                if data is None:
                    if writer.can_write_eof(): writer.write_eof()
                    break
                writer.write(data)
                if writer.transport.get_write_buffer_size() > 4 * CHUNK: await writer.drain()
        except (ConnectionError, OSError):
            pass

    rt = asyncio.create_task(read())
    try: await write()
    finally: rt.cancel()


class DelayProxy:
    "Forward 127.0.0.1:port to upstream with `one_way_ms` per chunk each way and `connect_ms` more on connect."
    def __init__(self, upstream_host, upstream_port, port=0, one_way_ms=20., connect_ms=40., host='127.0.0.1'):
        self.uh, self.up, self.host, self.port = upstream_host, upstream_port, host, port
        self.one_way, self.connect = one_way_ms / 1000, connect_ms / 1000
        self.n_conns = 0

    async def _handle(self, c_reader, c_writer):
        self.n_conns += 1
        accepted = time.monotonic()
        try: u_reader, u_writer = await asyncio.open_connection(self.uh, self.up)
        except OSError:
            c_writer.close(); return
        # client's bytes reach the server one handshake RTT + one way after accept; the server's get one way back
        up = _pump(c_reader, u_writer, self.one_way, not_before=accepted + self.connect)
        down = _pump(u_reader, c_writer, self.one_way)
        try: await asyncio.gather(up, down)
        finally:
            for w in (u_writer, c_writer):
                try: w.close()
                except Exception: pass

    async def serve(self, ready=None):
        server = await asyncio.start_server(self._handle, self.host, self.port, backlog=1024)
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
