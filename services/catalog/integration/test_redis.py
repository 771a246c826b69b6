"""Integration test: talks to the Redis that slipway binds next to the tests."""

import os
import time
import unittest

from catalog.resp import Redis
from catalog.store import RedisStore


class RedisStoreTest(unittest.TestCase):
    def setUp(self):
        self.url = os.environ.get("REDIS_URL")
        if not self.url:
            self.fail("REDIS_URL is not set: integration tests need the redis dependency")
        # The dependency may still be starting.
        deadline = time.time() + 30
        while True:
            try:
                Redis(self.url).command("PING")
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)

    def test_round_trip(self):
        store = RedisStore(self.url, prefix=f"it-{time.time_ns()}")
        self.assertTrue(store.ping())
        item = store.add("teapot", 2500)
        self.assertEqual(store.get(item["id"]), item)
        self.assertEqual([i["name"] for i in store.list()], ["teapot"])
        info = Redis(self.url).command("INFO", "server").decode()
        version = next(l for l in info.splitlines() if l.startswith("redis_version:"))
        print(f"talked to {version}")


if __name__ == "__main__":
    unittest.main()
