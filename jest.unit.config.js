// `npm run test:unit`: the unit tier of jest.config.js alone, which needs no PostgreSQL, Redis or
// server (so no global-setup probing for them). Paths after `--` filter as usual.
const { maxWorkers, testTimeout, projects } = require('./jest.config');

/** @type {import('jest').Config} */
module.exports = { maxWorkers, testTimeout, ...projects.find((project) => project.displayName === 'unit') };
