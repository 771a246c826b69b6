'use strict';
// Integration test: talks to the Redis that slipway binds next to the tests.
const test = require('node:test');
const assert = require('node:assert');
const { Redis } = require('../src/resp');
const { RedisStore } = require('../src/store');

test('notifications round-trip through Redis', async () => {
  const url = process.env.REDIS_URL;
  assert.ok(url, 'REDIS_URL is not set: integration tests need the redis dependency');
  const redis = new Redis(url);
  const deadline = Date.now() + 30000;
  for (;;) {
    try { await redis.command('PING'); break; } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  const store = new RedisStore(url, `it:${process.pid}:${Date.now()}`);
  assert.strictEqual(await store.ping(), true);
  await store.push({ channel: 'sms', to: '+100', message: 'integration' });
  const items = await store.list();
  assert.deepStrictEqual(items.map((n) => n.message), ['integration']);
  const info = await redis.command('INFO', 'server');
  console.log(`talked to ${info.split('\r\n').find((l) => l.startsWith('redis_version:'))}`);
});
