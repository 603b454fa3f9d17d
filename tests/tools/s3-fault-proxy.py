#!/usr/bin/env python3
"""s3-fault-proxy.py UPSTREAM PORT PORTFILE FAULTFILE - a test-only HTTP
proxy in front of an S3 service that answers 503 SlowDown on request.

Forwards every request unchanged (Host header included, so SigV4
signatures stay valid) to UPSTREAM (http://host:port).  Listens on
127.0.0.1:PORT (0: a free one) and writes the port to PORTFILE once it
listens.  Before each request it reads FAULTFILE, lines "METHOD COUNT
[TEXT]": the next COUNT requests with that method (and TEXT in the path
and query, or, for TEXT "range", a Range header) are answered 503 without
reaching UPSTREAM; the counts left are written back.  stdlib only.
"""
import http.client
import http.server
import sys
import threading
import urllib.parse

upstream = urllib.parse.urlparse(sys.argv[1])
port, port_file, fault_file = int(sys.argv[2]), sys.argv[3], sys.argv[4]
lock = threading.Lock()

SLOWDOWN = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown'
            b'</Code><Message>injected by s3-fault-proxy</Message></Error>')


def take_fault(method, path, headers):
    """True if an armed fault matches this request (and uses one up)."""
    with lock:
        try:
            with open(fault_file) as f:
                rules = [l.split(None, 2) for l in f.read().splitlines() if l.strip()]
        except FileNotFoundError:
            return False
        hit = False
        for r in rules:
            text = r[2] if len(r) > 2 else ""
            match = r[0] == method and int(r[1]) > 0 and (
                headers.get("Range") is not None if text == "range" else text in path)
            if match and not hit:
                r[1] = str(int(r[1]) - 1)
                hit = True
        with open(fault_file, "w") as f:
            f.write("".join(" ".join(r) + "\n" for r in rules))
        return hit


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def forward(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        if take_fault(self.command, self.path, self.headers):
            self.send_response(503)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(SLOWDOWN)))
            self.end_headers()
            self.wfile.write(SLOWDOWN)
            return
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for k, v in self.headers.items():
            conn.putheader(k, v)
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(k, v)
        if self.command != "HEAD" or data:
            self.send_header("Content-Length", str(len(data)))
        else:
            self.send_header("Content-Length", resp.getheader("Content-Length", "0"))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward


class Server(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True


srv = Server(("127.0.0.1", port), Proxy)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os  # noqa: E402
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
