"""A TCP relay that adds delay: the kernel here has no netem qdisc.

Runs inside one host's network namespace (the host whose ports it
fronts); the lab sends connections to it with an nftables DNAT rule in the
*other* host's namespace, so neither process is configured differently and
a partition rule (a drop by source address in the receiving host) still
applies to the relayed traffic.

Commands, one per line on stdin (the lab writes them; "ok" or "error ..."
is answered on stdout):

    map LISTEN_IP LISTEN_PORT TARGET_IP TARGET_PORT DELAY_MS
        listen on LISTEN_IP:LISTEN_PORT and forward every connection to
        TARGET, each chunk in each direction DELAY_MS late (one way).
    delay LISTEN_PORT DELAY_MS
        change the delay of a mapping (connections already open included).

Order is kept: a chunk is written only after every earlier one in its
direction. Python stdlib only (asyncio).
"""
import asyncio
import sys
import time


class Mapping:
    def __init__(self, target, delay_ms):
        self.target = target
        self.delay = delay_ms / 1000.0


async def pump(reader, writer, mapping):
    queue = asyncio.Queue()

    async def read_side():
        try:
            while True:
                data = await reader.read(65536)
                await queue.put((time.monotonic() + mapping.delay, data))
                if not data:
                    return
        except (ConnectionError, OSError):
            await queue.put((0, b""))

    async def write_side():
        try:
            while True:
                due, data = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    await asyncio.gather(read_side(), write_side())


async def serve(mapping, client_reader, client_writer):
    try:
        up_reader, up_writer = await asyncio.open_connection(*mapping.target)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pump(client_reader, up_writer, mapping),
                         pump(up_reader, client_writer, mapping))


async def control():
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    mappings, servers = {}, []
    while True:
        line = await reader.readline()
        if not line:
            return
        words = line.decode().split()
        try:
            if words[0] == "map":
                listen_ip, listen_port, target_ip, target_port, delay = words[1:]
                mapping = Mapping((target_ip, int(target_port)), float(delay))
                mappings[int(listen_port)] = mapping
                servers.append(await asyncio.start_server(
                    lambda r, w, m=mapping: serve(m, r, w), listen_ip, int(listen_port)))
            elif words[0] == "delay":
                mappings[int(words[1])].delay = float(words[2]) / 1000.0
            else:
                raise ValueError("unknown command")
            print("ok", flush=True)
        except Exception as exc:  # noqa: BLE001 - reported to the lab
            print("error %s: %r" % (line.decode().strip(), exc), flush=True)


if __name__ == "__main__":
    asyncio.run(control())
