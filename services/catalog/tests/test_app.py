import json
import threading
import unittest
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer

from catalog.app import make_handler
from catalog.store import MemoryStore


class AppTest(unittest.TestCase):
    def setUp(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(MemoryStore()))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()

    def request(self, method, path, body=None):
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(self.base + path, data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, json.loads(resp.read()), resp.headers
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read()), e.headers

    def test_health(self):
        for path in ("/health/live", "/health/ready"):
            status, body, _ = self.request("GET", path)
            self.assertEqual(status, 200, body)

    def test_add_get_list(self):
        status, item, headers = self.request("POST", "/items", {"name": "mug", "price_cents": 1200})
        self.assertEqual(status, 201)
        self.assertEqual(headers["Location"], "/items/1")
        status, got, _ = self.request("GET", "/items/1")
        self.assertEqual((status, got["name"], got["price_cents"]), (200, "mug", 1200))
        status, items, _ = self.request("GET", "/items")
        self.assertEqual([i["name"] for i in items], ["mug"])

    def test_validation(self):
        for body, want in [
            ({"name": "", "price_cents": 1}, "name must not be empty"),
            ({"name": "x", "price_cents": -1}, "price_cents"),
            ({"name": "x", "price_cents": True}, "price_cents"),
            ({"name": "x", "price": 1}, "body must be an object"),
            (b"{not json", "invalid JSON body"),
        ]:
            status, resp, _ = self.request("POST", "/items", body)
            self.assertEqual(status, 400, body)
            self.assertIn(want, resp["error"])
        self.assertEqual(self.request("GET", "/items/99")[0], 404)


if __name__ == "__main__":
    unittest.main()
