"""Many clients at once against one ServerFactory: each served, none costing a thread."""

import os
import socket
import threading

import jsocket_rs as jsocket
from conftest import HOST, port_of


def os_threads():
    with open(f"/proc/{os.getpid()}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Threads:"))


def test_five_hundred_clients_on_the_servers_one_thread(factory):
    port = port_of(factory)
    threads_before = os_threads()
    python_threads_before = threading.active_count()
    socks = [socket.create_connection((HOST, port)) for _ in range(500)]
    for i, s in enumerate(socks):
        s.sendall(jsocket.encode({"client": i, "data": "x" * (i % 50)}))
    for i, s in enumerate(socks):
        s.settimeout(30)
        decoder = jsocket.Decoder(dialect="v2")
        got = []
        while not got:
            got = decoder.feed(s.recv(65536))
        assert got == [jsocket.encode_payload and '{"client": %d, "data": "%s"}' % (i, "x" * (i % 50))]
    assert factory.get_client_stats()["connected_clients"] == 500
    assert os_threads() == threads_before
    assert threading.active_count() == python_threads_before
    for s in socks:
        s.close()
