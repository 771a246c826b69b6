'use strict';
// Used by the image's HEALTHCHECK: exits 0 when /health/ready answers 2xx.
const http = require('node:http');

const port = Number(process.env.PORT || 8080);
const req = http.get({ host: '127.0.0.1', port, path: '/health/ready', timeout: 3000 }, (res) => {
  process.exit(res.statusCode >= 200 && res.statusCode < 300 ? 0 : 1);
});
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', () => process.exit(1));
