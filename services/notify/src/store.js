'use strict';
const { Redis } = require('./resp');

class MemoryStore {
  constructor() { this.kind = 'memory'; this.items = []; }
  async ping() { return true; }
  async push(n) { this.items.push(n); return this.items.length; }
  async list() { return [...this.items]; }
}

class RedisStore {
  constructor(url, key = 'notify:queue') { this.kind = 'redis'; this.redis = new Redis(url); this.key = key; }
  async ping() { return (await this.redis.command('PING')) === 'PONG'; }
  async push(n) { return this.redis.command('RPUSH', this.key, JSON.stringify(n)); }
  async list() { return (await this.redis.command('LRANGE', this.key, 0, -1)).map((s) => JSON.parse(s)); }
}

function makeStore(env = process.env) {
  return env.REDIS_URL ? new RedisStore(env.REDIS_URL) : new MemoryStore();
}

module.exports = { MemoryStore, RedisStore, makeStore };
