"""A minimal Redis client speaking RESP2 over a socket (standard library only)."""

import socket
from urllib.parse import urlparse


class RedisError(Exception):
    """An error reply from the server or a broken connection."""


class Redis:
    """One connection; commands are sent one at a time."""

    def __init__(self, url: str, timeout: float = 5.0):
        u = urlparse(url)
        if u.scheme != "redis":
            raise ValueError(f"REDIS_URL must start with redis://, got {url!r}")
        self.host = u.hostname or "localhost"
        self.port = u.port or 6379
        self.timeout = timeout
        self._sock = None
        self._buf = b""

    def _connect(self):
        if self._sock is None:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            self._buf = b""

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def command(self, *args):
        self._connect()
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
        try:
            self._sock.sendall(b"".join(parts))
            return self._read()
        except OSError as e:
            self.close()
            raise RedisError(f"connection to {self.host}:{self.port} failed: {e}") from e

    def _line(self) -> bytes:
        while b"\r\n" not in self._buf:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise RedisError("connection closed by server")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\r\n", 1)
        return line

    def _exact(self, n: int) -> bytes:
        while len(self._buf) < n + 2:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise RedisError("connection closed by server")
            self._buf += chunk
        data, self._buf = self._buf[:n], self._buf[n + 2:]
        return data

    def _read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RedisError(f"unexpected reply {line!r}")
