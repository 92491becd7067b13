// Module boundaries are the architecture's enforcement, not a convention (ARCHITECTURE.md §10).
// Two tag axes: scope:* (which service's domain) and type:* (what kind of library).
import nx from '@nx/eslint-plugin';

const NATS = ['@nats-io/*'];
const ORM = ['typeorm', '@nestjs/typeorm', 'pg'];
const JOSE = ['jose'];
// Node built-ins are not npm packages, so bannedExternalImports cannot ban them: no-restricted-imports does.
const builtins = (names) => names.flatMap((m) => [m, `node:${m}`]);
const NODE_NETWORK = builtins(['http', 'https', 'http2', 'net', 'tls', 'dgram', 'dns', 'child_process']);
const NODE_IO = [...NODE_NETWORK, ...builtins(['fs', 'fs/promises', 'worker_threads', 'cluster'])];
const restrict = (names, why) => ['error', { paths: names.map((name) => ({ name, message: why })) }];

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  { ignores: ['**/node_modules', '**/dist', '**/tmp', '**/.nx', '**/__fixtures__/**'] },
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          banTransitiveDependencies: false,
          allow: [],
          depConstraints: [
            // ---- type axis: what a kind of library may use -------------------------------
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:feature', 'type:data-access', 'type:messaging', 'type:domain', 'type:util', 'type:signing', 'type:verify', 'type:platform', 'type:sdk'], bannedExternalImports: [...NATS, ...ORM] },
            { sourceTag: 'type:feature', onlyDependOnLibsWithTags: ['type:data-access', 'type:messaging', 'type:domain', 'type:util', 'type:signing', 'type:verify', 'type:platform'], bannedExternalImports: [...NATS, ...ORM, ...JOSE] },
            { sourceTag: 'type:platform', onlyDependOnLibsWithTags: ['type:data-access', 'type:messaging', 'type:util'], bannedExternalImports: [...NATS, ...ORM, ...JOSE] },
            { sourceTag: 'type:data-access', onlyDependOnLibsWithTags: ['type:data-access', 'type:domain', 'type:util'], bannedExternalImports: [...NATS, ...JOSE] },
            { sourceTag: 'type:messaging', onlyDependOnLibsWithTags: ['type:util'], bannedExternalImports: [...ORM, ...JOSE] },
            { sourceTag: 'type:domain', onlyDependOnLibsWithTags: ['type:domain', 'type:util'], bannedExternalImports: [...NATS, ...ORM, ...JOSE, '@nestjs/*'] },
            { sourceTag: 'type:util', onlyDependOnLibsWithTags: ['type:util'], bannedExternalImports: [...NATS, ...ORM, ...JOSE, '@nestjs/*'] },
            // verification is pure and network-free (sigstore's verify package): jose and contracts only
            { sourceTag: 'type:verify', onlyDependOnLibsWithTags: ['type:util'], bannedExternalImports: [...NATS, ...ORM, '@nestjs/*'] },
            { sourceTag: 'type:signing', onlyDependOnLibsWithTags: ['type:verify', 'type:util'], bannedExternalImports: [...NATS, ...ORM, '@nestjs/*'] },
            { sourceTag: 'type:sdk', onlyDependOnLibsWithTags: ['type:verify', 'type:messaging', 'type:util'], bannedExternalImports: [...ORM, ...JOSE, '@nestjs/*'] },
            { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:messaging', 'type:data-access', 'type:util', 'type:verify', 'type:signing', 'type:domain'], bannedExternalImports: [] },
            // ---- scope axis: a service's libraries never reach into another service's ----------
            { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'scope:platform', onlyDependOnLibsWithTags: ['scope:platform', 'scope:shared'] },
            { sourceTag: 'scope:ingest', onlyDependOnLibsWithTags: ['scope:ingest', 'scope:platform', 'scope:shared'] },
            { sourceTag: 'scope:orgo', onlyDependOnLibsWithTags: ['scope:orgo', 'scope:platform', 'scope:shared'] },
            { sourceTag: 'scope:pipeline', onlyDependOnLibsWithTags: ['scope:pipeline', 'scope:platform', 'scope:shared'] },
            { sourceTag: 'scope:release', onlyDependOnLibsWithTags: ['scope:release', 'scope:trust', 'scope:platform', 'scope:shared'] },
            { sourceTag: 'scope:ledger', onlyDependOnLibsWithTags: ['scope:ledger', 'scope:trust', 'scope:platform', 'scope:shared'] },
            { sourceTag: 'scope:trust', onlyDependOnLibsWithTags: ['scope:trust', 'scope:shared'] },
            { sourceTag: 'scope:runtime', onlyDependOnLibsWithTags: ['scope:runtime', 'scope:trust', 'scope:platform', 'scope:shared'] },
            { sourceTag: 'scope:tooling', onlyDependOnLibsWithTags: ['*'] },
          ],
        },
      ],
    },
  },
  {
    // type:verify: verification is pure and network-free (sigstore's verify package)
    files: ['libs/release/verify/src/**/*.ts'],
    ignores: ['**/*.spec.ts', '**/testing/**', '**/src/testing.ts'],
    rules: { 'no-restricted-imports': restrict(NODE_NETWORK, 'libs/release/verify is pure and network-free (ARCHITECTURE.md §10).') },
  },
  {
    // type:domain: pure deciders and projections, no I/O
    files: ['libs/*/domain/src/**/*.ts'],
    ignores: ['**/*.spec.ts', '**/testing/**', '**/src/testing.ts'],
    rules: { 'no-restricted-imports': restrict(NODE_IO, 'domain libs are pure: no file system, network or processes (ARCHITECTURE.md §10).') },
  },
  {
    // Tests and test harnesses may use anything, and may print.
    files: ['**/*.spec.ts', '**/testing/**/*.ts', '**/src/testing.ts'],
    rules: { '@nx/enforce-module-boundaries': 'off', 'no-console': 'off' },
  },
];
