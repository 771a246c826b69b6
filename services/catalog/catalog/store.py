"""Stores for catalog items: in memory, or in Redis."""

import json
import threading

from .resp import Redis


class MemoryStore:
    kind = "memory"

    def __init__(self):
        self._lock = threading.Lock()
        self._items = {}
        self._next = 0

    def ping(self):
        return True

    def add(self, name: str, price_cents: int) -> dict:
        with self._lock:
            self._next += 1
            item = {"id": self._next, "name": name, "price_cents": price_cents}
            self._items[item["id"]] = item
            return item

    def get(self, item_id: int):
        with self._lock:
            return self._items.get(item_id)

    def list(self):
        with self._lock:
            return [self._items[k] for k in sorted(self._items)]


class RedisStore:
    kind = "redis"

    def __init__(self, url: str, prefix: str = "catalog"):
        self._url = url
        self._prefix = prefix
        self._local = threading.local()

    def _r(self) -> Redis:
        r = getattr(self._local, "redis", None)
        if r is None:
            r = self._local.redis = Redis(self._url)
        return r

    def ping(self):
        return self._r().command("PING") == "PONG"

    def add(self, name: str, price_cents: int) -> dict:
        r = self._r()
        item_id = r.command("INCR", f"{self._prefix}:next")
        item = {"id": item_id, "name": name, "price_cents": price_cents}
        r.command("SET", f"{self._prefix}:item:{item_id}", json.dumps(item))
        r.command("RPUSH", f"{self._prefix}:ids", item_id)
        return item

    def get(self, item_id: int):
        raw = self._r().command("GET", f"{self._prefix}:item:{item_id}")
        return None if raw is None else json.loads(raw)

    def list(self):
        ids = self._r().command("LRANGE", f"{self._prefix}:ids", 0, -1) or []
        return [i for i in (self.get(int(x)) for x in ids) if i is not None]
