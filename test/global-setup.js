// Runs once before the suite: fails fast, with a clear message, when a service the integration
// tests need is not answering (rather than 40 suites timing out one by one).
const net = require('node:net');

function reachable(url, defaultPort) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port || defaultPort) });
    socket.setTimeout(3000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

module.exports = async () => {
  const postgres = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const redis = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const missing = [];
  if (!(await reachable(postgres, 5432))) missing.push(`PostgreSQL at ${postgres} (TEST_DATABASE_URL)`);
  if (!(await reachable(redis, 6379))) missing.push(`Redis at ${redis} (TEST_REDIS_URL)`);
  if (missing.length > 0) {
    throw new Error(`The integration tests need ${missing.join(' and ')}. Start them, point the variables at yours, or run "bash .ci/run", which installs and starts both.`);
  }
};
