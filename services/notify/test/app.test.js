'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { createApp, validate } = require('../src/app');
const { MemoryStore } = require('../src/store');
const { parse } = require('../src/resp');

async function withServer(fn) {
  const server = createApp(new MemoryStore());
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  try { await fn(base); } finally { server.close(); }
}

function request(base, method, path, body) {
  const http = require('node:http');
  return new Promise((resolve, reject) => {
    const req = http.request(base + path, { method, headers: { 'Content-Type': 'application/json' } }, (res) => {
      let data = '';
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(data) }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(typeof body === 'string' ? body : JSON.stringify(body));
    req.end();
  });
}

test('health endpoints answer', async () => {
  await withServer(async (base) => {
    assert.strictEqual((await request(base, 'GET', '/health/live')).status, 200);
    const ready = await request(base, 'GET', '/health/ready');
    assert.deepStrictEqual([ready.status, ready.body.store], [200, 'memory']);
  });
});

test('queue and list notifications', async () => {
  await withServer(async (base) => {
    const r = await request(base, 'POST', '/notifications', { channel: 'email', to: 'a@example.com', message: 'hi' });
    assert.deepStrictEqual([r.status, r.body.position], [202, 1]);
    const list = await request(base, 'GET', '/notifications');
    assert.strictEqual(list.body.length, 1);
    assert.strictEqual(list.body[0].to, 'a@example.com');
  });
});

test('bad notifications are refused with a reason', async () => {
  await withServer(async (base) => {
    for (const [body, want] of [
      [{ channel: 'fax', to: 'x', message: 'm' }, 'channel must be one of'],
      [{ channel: 'sms', to: ' ', message: 'm' }, 'to must not be empty'],
      [{ channel: 'sms', to: 'x', message: '' }, 'message must be'],
      [{ channel: 'sms', to: 'x', message: 'm', cc: 'y' }, 'unknown field'],
      ['{oops', 'invalid JSON body'],
    ]) {
      const r = await request(base, 'POST', '/notifications', body);
      assert.strictEqual(r.status, 400, JSON.stringify(body));
      assert.match(r.body.error, new RegExp(want));
    }
    assert.strictEqual((await request(base, 'GET', '/nope')).status, 404);
  });
});

test('validate accepts a well-formed notification', () => {
  assert.strictEqual(validate({ channel: 'push', to: 'device-1', message: 'ok' }), null);
});

test('RESP parser decodes every reply type and waits for partial input', () => {
  assert.deepStrictEqual(parse(Buffer.from('+PONG\r\n'), 0).value, 'PONG');
  assert.strictEqual(parse(Buffer.from(':42\r\n'), 0).value, 42);
  assert.strictEqual(parse(Buffer.from('$-1\r\n'), 0).value, null);
  assert.deepStrictEqual(parse(Buffer.from('*2\r\n$1\r\na\r\n$2\r\nbc\r\n'), 0).value, ['a', 'bc']);
  assert.strictEqual(parse(Buffer.from('$5\r\nab'), 0), null);
  assert.ok(parse(Buffer.from('-ERR bad\r\n'), 0).value instanceof Error);
});
