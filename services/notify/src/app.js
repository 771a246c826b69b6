'use strict';
const http = require('node:http');

const CHANNELS = new Set(['email', 'sms', 'push']);

function send(res, status, body, headers = {}) {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data), ...headers });
  res.end(data);
}

function readBody(req, limit = 65536) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) { reject(Object.assign(new Error('body too large'), { status: 413 })); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

// validate returns an error message, or null for a valid notification.
function validate(n) {
  if (n === null || typeof n !== 'object' || Array.isArray(n)) return 'body must be a JSON object';
  const extra = Object.keys(n).filter((k) => !['channel', 'to', 'message'].includes(k));
  if (extra.length) return `unknown field(s): ${extra.join(', ')}`;
  if (!CHANNELS.has(n.channel)) return `channel must be one of ${[...CHANNELS].join(', ')}`;
  if (typeof n.to !== 'string' || !n.to.trim()) return 'to must not be empty';
  if (typeof n.message !== 'string' || !n.message.trim() || n.message.length > 1000) return 'message must be 1 to 1000 characters';
  return null;
}

function createApp(store, log = () => {}) {
  return http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://local');
      if (req.method === 'GET' && url.pathname === '/health/live') return send(res, 200, { status: 'live' });
      if (req.method === 'GET' && url.pathname === '/health/ready') {
        try {
          await store.ping();
          return send(res, 200, { status: 'ready', store: store.kind });
        } catch (e) {
          return send(res, 503, { status: 'not ready', store: store.kind, error: e.message });
        }
      }
      if (url.pathname === '/notifications') {
        if (req.method === 'GET') return send(res, 200, await store.list());
        if (req.method === 'POST') {
          let n;
          try { n = JSON.parse(await readBody(req)); } catch (e) { return send(res, e.status || 400, { error: e.status ? e.message : `invalid JSON body: ${e.message}` }); }
          const problem = validate(n);
          if (problem) return send(res, 400, { error: problem });
          const position = await store.push({ ...n, queuedAt: new Date().toISOString() });
          return send(res, 202, { queued: true, position });
        }
      }
      return send(res, 404, { error: 'not found' });
    } catch (e) {
      log(`request failed: ${e.message}`);
      return send(res, 500, { error: 'internal error' });
    }
  });
}

module.exports = { createApp, validate };
