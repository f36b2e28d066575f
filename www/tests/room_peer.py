"""Join the exhibit's live room from Python, with the real jsocket JsonClient (2.x).

Usage: python room_peer.py [--host H] [--port P] [--name N] [--expect NAME ...] [--hold]

Joins the room, draws a ring of dots on the shared canvas, measures its echo round trip, and
says hello; then prints the room's chat. With --expect it waits for a chat message from each
NAME, answers them, waits for its answer to come back through the room, and then (with --hold)
stays connected until its standard input closes, or else leaves. Prints one JSON line of what
it saw at the end. Room messages go out as the server's control message
{"$jsocket": "broadcast", "message": m} and come back to everyone in the server's envelope
{"$jsocket": "broadcast", "from": id, "message": m} (id: the sender's connection, which the
sender cannot choose), so any jsocket server of this project will do.
"""

import argparse
import json
import math
import socket
import sys
import time

import jsocket

ROOM = "jsocket-exhibit"
COLOR = "#3572a5"  # Python's blue


class Peer:
    def __init__(self, host, port, name):
        self.name = name
        self.client = jsocket.JsonClient(address=host, port=port, timeout=30.0)
        if not self.client.connect():
            raise SystemExit(f"cannot connect to {host}:{port}")
        self.rtt_ms = None
        self.pings = 0
        self.chats = []  # (from, text) of others' chat messages
        self.seen_own = set()

    def post(self, kind, **fields):
        message = {"room": ROOM, "kind": kind, "from": self.name, "color": COLOR,
                   "rtt": self.rtt_ms, **fields}
        self.client.send_obj({"$jsocket": "broadcast", "message": message})

    def ping(self):
        """One echo round trip; room messages that arrive first are handled on the way."""
        self.pings += 1
        sent = time.perf_counter()
        self.client.send_obj({"ping": self.pings, "client": self.name})
        while True:
            msg = self.client.read_obj()
            if isinstance(msg, dict) and msg.get("ping") == self.pings and msg.get("client") == self.name:
                self.rtt_ms = (time.perf_counter() - sent) * 1000
                return self.rtt_ms
            self.handle(msg)

    def handle(self, envelope):
        # Room messages arrive in the server's broadcast envelope.
        if not isinstance(envelope, dict) or envelope.get("$jsocket") != "broadcast":
            return
        msg = envelope.get("message")
        if not isinstance(msg, dict) or msg.get("room") != ROOM:
            return
        sender, kind = msg.get("from"), msg.get("kind")
        if sender == self.name:
            if kind == "chat":
                self.seen_own.add(msg.get("id"))
            return
        if kind == "chat" and isinstance(msg.get("text"), str):
            self.chats.append((sender, msg["text"]))
            print(f"{sender}: {msg['text']}", file=sys.stderr, flush=True)

    def say(self, text):
        """Sends a chat message and waits until it comes back through the room."""
        ident = f"{self.name}-{len(self.seen_own) + 1}-{time.monotonic_ns()}"
        self.post("chat", id=ident, text=text)
        while ident not in self.seen_own:
            self.handle(self.client.read_obj())

    def draw_ring(self, dots=36):
        for i in range(dots):
            angle = 2 * math.pi * i / dots
            self.post("dot", x=round(0.5 + 0.3 * math.cos(angle), 4),
                      y=round(0.5 + 0.38 * math.sin(angle), 4))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5489)
    parser.add_argument("--name", default="python")
    parser.add_argument("--expect", action="append", default=[],
                        help="wait for a chat message from this name (repeatable)")
    parser.add_argument("--hold", action="store_true",
                        help="stay connected until standard input closes")
    args = parser.parse_args()

    peer = Peer(args.host, args.port, args.name)
    peer.ping()
    peer.post("join")
    peer.draw_ring()
    peer.ping()
    peer.say(f"hello from Python jsocket {getattr(jsocket, '__version__', '2.x')}")
    if args.expect:
        waiting = set(args.expect)
        while waiting - {sender for sender, _ in peer.chats}:
            peer.handle(peer.client.read_obj())
        peer.ping()
        peer.say("python saw " + " and ".join(sorted(waiting)))
    else:
        try:
            while True:
                try:
                    peer.handle(peer.client.read_obj())
                except socket.timeout:
                    pass  # a quiet room, between frames: keep listening
        except KeyboardInterrupt:
            pass
    if args.hold:
        sys.stdin.read()
    peer.post("leave")
    print(json.dumps({"name": peer.name, "rtt_ms": peer.rtt_ms, "pings": peer.pings,
                      "chats": peer.chats}), flush=True)
    peer.client.close()


if __name__ == "__main__":
    main()
