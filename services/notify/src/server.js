'use strict';
const { createApp } = require('./app');
const { makeStore } = require('./store');

const port = Number(process.env.PORT || 8080);
const store = makeStore();
const server = createApp(store, (m) => console.error(m));
server.listen(port, '0.0.0.0', () => console.log(JSON.stringify({ msg: 'notify listening', port, store: store.kind })));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
