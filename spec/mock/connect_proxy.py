#!/usr/bin/env python3
"""A minimal HTTP CONNECT proxy for specs (standard library only): each
"CONNECT host:port HTTP/1.1" is answered "200 Connection established" and
the bytes are relayed both ways until either side closes. Anything else
gets 405. Each CONNECT target is appended, one per line, to --log.

    python3 connect_proxy.py --port-file FILE --log FILE

Listens on 127.0.0.1, port chosen by the system, written to --port-file.
"""
import argparse
import os
import socket
import threading


def relay(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(conn, log):
    head = b""
    while b"\r\n\r\n" not in head:
        data = conn.recv(4096)
        if not data:
            conn.close()
            return
        head += data
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split()
    if len(parts) != 3 or parts[0] != "CONNECT":
        conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
        conn.close()
        return
    host, port = parts[1].rsplit(":", 1)
    with open(log, "a") as f:
        f.write(parts[1] + "\n")
    up = socket.create_connection((host, int(port)))
    conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    rest = head.split(b"\r\n\r\n", 1)[1]
    if rest:
        up.sendall(rest)
    threading.Thread(target=relay, args=(up, conn), daemon=True).start()
    relay(conn, up)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.getsockname()[1]))
    os.replace(tmp, args.port_file)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, args.log), daemon=True).start()


if __name__ == "__main__":
    main()
