#!/usr/bin/env python3
"""An upstream that accepts connections and never answers: the 504 path of the fault tests.

Usage: hang-server.py PORT. Holds every connection open until it is stopped.
"""
import socket
import sys

server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(1024)
held = []
while True:
    conn, _ = server.accept()
    held.append(conn)
