"""HTTP API of the catalog service (standard library only)."""

import json
import logging
import os
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .store import MemoryStore, RedisStore

log = logging.getLogger("catalog")
ITEM_PATH = re.compile(r"^/items/(\d+)$")


def make_handler(store):
    class Handler(BaseHTTPRequestHandler):
        server_version = "catalog/0.1"

        def log_message(self, fmt, *args):
            log.info("%s %s", self.address_string(), fmt % args)

        def _json(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/health/live":
                return self._json(200, {"status": "live"})
            if self.path == "/health/ready":
                try:
                    store.ping()
                except Exception as e:  # the store is down: not ready
                    return self._json(503, {"status": "not ready", "store": store.kind, "error": str(e)})
                return self._json(200, {"status": "ready", "store": store.kind})
            if self.path == "/items":
                return self._json(200, store.list())
            m = ITEM_PATH.match(self.path)
            if m:
                item = store.get(int(m.group(1)))
                return self._json(200, item) if item else self._json(404, {"error": "item not found"})
            return self._json(404, {"error": "not found"})

        def do_POST(self):
            if self.path != "/items":
                return self._json(404, {"error": "not found"})
            length = int(self.headers.get("Content-Length") or 0)
            if length > 65536:
                return self._json(413, {"error": "body too large"})
            try:
                body = json.loads(self.rfile.read(length) or b"null")
            except ValueError as e:
                return self._json(400, {"error": f"invalid JSON body: {e}"})
            if not isinstance(body, dict) or set(body) - {"name", "price_cents"}:
                return self._json(400, {"error": "body must be an object with name and price_cents"})
            name = str(body.get("name", "")).strip()
            price = body.get("price_cents")
            if not name:
                return self._json(400, {"error": "name must not be empty"})
            if not isinstance(price, int) or isinstance(price, bool) or price < 0:
                return self._json(400, {"error": "price_cents must be a non-negative integer"})
            item = store.add(name, price)
            self.send_response(201)
            data = json.dumps(item).encode()
            self.send_header("Location", f"/items/{item['id']}")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def make_store():
    url = os.environ.get("REDIS_URL")
    return RedisStore(url) if url else MemoryStore()


def main():
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(message)s")
    port = int(os.environ.get("PORT", "8080"))
    store = make_store()
    server = ThreadingHTTPServer(("0.0.0.0", port), make_handler(store))
    log.info("catalog listening on :%d (store: %s)", port, store.kind)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
