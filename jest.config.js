// One jest run, three tiers named by file suffix (STYLE.md §16). Real-server tiers are never cached:
// jest runs directly, not through an Nx cached target.
const { readFileSync } = require('node:fs');

const tsconfig = JSON.parse(readFileSync(`${__dirname}/tsconfig.base.json`, 'utf8'));
const moduleNameMapper = Object.fromEntries(
  Object.entries(tsconfig.compilerOptions.paths).map(([alias, [target]]) => [
    `^${alias.replace(/[/.]/g, '\\$&')}$`,
    `<rootDir>/${target}`,
  ]),
);
const swcrc = JSON.parse(readFileSync(`${__dirname}/.swcrc`, 'utf8'));
delete swcrc.$schema;

const common = {
  rootDir: __dirname,
  testEnvironment: 'node',
  moduleNameMapper,
  transform: { '^.+\\.(t|j|mj)s$': ['@swc/jest', { ...swcrc, swcrc: false }] },
  // jose is ESM-only, and @nats-io/obj loads node:crypto with a dynamic import(): swc turns both into
  // CommonJS for jest's module system (TOOLCHAIN.md pitfall 3).
  transformIgnorePatterns: ['/node_modules/(?!(jose|@nats-io/obj)/)'],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  // anchored to the repository: a clone may itself live under /tmp
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/dist/', '<rootDir>/tmp/'],
};

/** @type {import('jest').Config} */
module.exports = {
  // testTimeout is a global option (ignored inside projects): generous, because int and e2e suites
  // start real servers and processes on a 2-core machine; unit tests finish in milliseconds anyway.
  testTimeout: 120_000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs,tools,bench}/**/*.unit.spec.ts'] },
    { ...common, displayName: 'int', testMatch: ['<rootDir>/{apps,libs,tools,bench}/**/*.int.spec.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/**/*.e2e.spec.ts'] },
  ],
};
