#!/usr/bin/env python3
"""A stand-in for the GCE/GKE metadata server's token endpoint, for the
BigQuery sink's tests: GET /computeMetadata/v1/instance/service-accounts/
default/token with "Metadata-Flavor: Google" answers a token that it gets
from beast-bq-emulator's /token (refresh-token grant), so the emulator
accepts it. Without the header: 403, as the real server. Listens on
127.0.0.1, port 0; prints "listening on http://127.0.0.1:PORT" first.

usage: fake_metadata_server.py EMULATOR_URL
"""
import http.server
import sys
import urllib.parse
import urllib.request

TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
EMULATOR = sys.argv[1]


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, code, body, content_type="application/json"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Metadata-Flavor", "Google")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.split("?")[0] != TOKEN_PATH:
            self.answer(404, "not found", "text/plain")
        elif self.headers.get("Metadata-Flavor") != "Google":
            self.answer(403, "Missing Metadata-Flavor:Google header.", "text/plain")
        else:
            form = urllib.parse.urlencode(
                {"grant_type": "refresh_token", "refresh_token": "from-metadata", "client_id": "gce"}
            ).encode()
            with urllib.request.urlopen(EMULATOR + "/token", form, timeout=10) as reply:
                self.answer(200, reply.read().decode())

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
