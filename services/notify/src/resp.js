'use strict';
// A minimal Redis client speaking RESP2 (Node's standard library only).
const net = require('node:net');

class RedisError extends Error {}

class Redis {
  constructor(url, { timeoutMs = 5000 } = {}) {
    const u = new URL(url);
    if (u.protocol !== 'redis:') throw new Error(`REDIS_URL must start with redis://, got ${url}`);
    this.host = u.hostname || 'localhost';
    this.port = Number(u.port || 6379);
    this.timeoutMs = timeoutMs;
    this.queue = Promise.resolve();
  }

  // command sends one command and resolves with its decoded reply. Commands
  // are serialised; each uses a short-lived connection for simplicity.
  command(...args) {
    const run = () => new Promise((resolve, reject) => {
      const sock = net.createConnection({ host: this.host, port: this.port });
      sock.setTimeout(this.timeoutMs, () => sock.destroy(new RedisError(`timeout talking to ${this.host}:${this.port}`)));
      let buf = Buffer.alloc(0);
      sock.on('connect', () => {
        const parts = [`*${args.length}\r\n`];
        for (const a of args) {
          const b = Buffer.from(String(a));
          parts.push(`$${b.length}\r\n`, b, '\r\n');
        }
        sock.write(Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p)))));
      });
      sock.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        try {
          const res = parse(buf, 0);
          if (res) {
            sock.end();
            if (res.value instanceof RedisError) reject(res.value);
            else resolve(res.value);
          }
        } catch (e) {
          sock.destroy();
          reject(e);
        }
      });
      sock.on('error', (e) => reject(new RedisError(`connection to ${this.host}:${this.port} failed: ${e.message}`)));
    });
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => {});
    return p;
  }
}

// parse decodes one reply at offset, or returns null when more bytes are needed.
function parse(buf, off) {
  const end = buf.indexOf('\r\n', off);
  if (end < 0) return null;
  const kind = String.fromCharCode(buf[off]);
  const line = buf.toString('utf8', off + 1, end);
  const next = end + 2;
  switch (kind) {
    case '+': return { value: line, next };
    case '-': return { value: new RedisError(line), next };
    case ':': return { value: Number(line), next };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, next };
      if (buf.length < next + n + 2) return null;
      return { value: buf.toString('utf8', next, next + n), next: next + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, next };
      const out = [];
      let pos = next;
      for (let i = 0; i < n; i++) {
        const r = parse(buf, pos);
        if (!r) return null;
        out.push(r.value);
        pos = r.next;
      }
      return { value: out, next: pos };
    }
    default:
      throw new RedisError(`unexpected reply type ${JSON.stringify(kind)}`);
  }
}

module.exports = { Redis, RedisError, parse };
