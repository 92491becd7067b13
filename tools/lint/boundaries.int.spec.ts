/**
 * Proves the module boundaries of ARCHITECTURE.md §10 are enforced by the lint toolchain, not by
 * convention: each case writes a small probe file into a REAL project's `src`, runs the real
 * ESLint with the workspace config (eslint.config.mjs, the same rules `npm run lint` runs per
 * project through Nx), asserts the exact boundary error, and always deletes the probe.
 *
 * Why an int test: it runs the real lint toolchain (ESLint + the Nx project graph) in a child
 * process over real files in the work tree; nothing is mocked. ESLint is started once for all
 * cases to keep it to a few seconds on a shared machine.
 */
import { execFile } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const ESLINT_BIN = join(ROOT, 'node_modules', 'eslint', 'bin', 'eslint.js');
const PROBE = `__boundary_probe_${process.pid}_${Date.now().toString(36)}`;

interface Probe {
  readonly name: string;
  /** project source folder, relative to the repo root */
  readonly dir: string;
  readonly code: string;
}

/** A file the app-to-app case imports by relative path (another app's source). */
const TARGET: Probe = { name: 'target', dir: 'apps/ingest-gateway/src', code: 'export const probeTarget = 1;\n' };

const PROBES = {
  appImportsApp: { name: 'app-imports-app', dir: 'apps/orgo-control/src', code: `import { probeTarget } from '../../ingest-gateway/src/${PROBE}_target';\nexport const probe = probeTarget;\n` },
  contractsImportsNats: { name: 'contracts-imports-nats', dir: 'libs/contracts/src', code: `import { jetstream } from '@nats-io/jetstream';\nexport const probe = jetstream;\n` },
  featureImportsTypeorm: { name: 'feature-imports-typeorm', dir: 'libs/orgo/feature/src', code: `import { Repository } from 'typeorm';\nexport const probe = Repository;\n` },
  domainImportsMessaging: { name: 'domain-imports-messaging', dir: 'libs/orgo/domain/src', code: `import * as messaging from '@koa/platform/messaging';\nexport const probe = messaging;\n` },
  verifyImportsHttp: { name: 'verify-imports-http', dir: 'libs/release/verify/src', code: `import { request } from 'node:http';\nexport const probe = request;\n` },
  domainImportsFs: { name: 'domain-imports-fs', dir: 'libs/orgo/domain/src', code: `import { readFileSync } from 'node:fs';\nexport const probe = readFileSync;\n` },
  scopeViolation: { name: 'orgo-imports-ingest', dir: 'libs/orgo/feature/src', code: `import * as ingest from '@koa/ingest/domain';\nexport const probe = ingest;\n` },
  clean: {
    name: 'clean',
    dir: 'libs/orgo/feature/src',
    code: `import { subjects } from '@koa/contracts';\nimport * as orgo from '@koa/orgo/domain';\n\n/** A clean feature-lib file: contracts and its own domain only. */\nexport const probe = [subjects.audit('acme'), orgo];\n`,
  },
} as const satisfies Record<string, Probe>;

type Case = keyof typeof PROBES;
const pathOf = (p: Probe): string => join(ROOT, p.dir, p.name === 'target' ? `${PROBE}_target.ts` : `${PROBE}_${p.name}.ts`);

interface LintMessage {
  ruleId: string | null;
  severity: number;
  message: string;
}
let results: Map<string, LintMessage[]>;

function runEslint(files: string[]): Promise<Map<string, LintMessage[]>> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [ESLINT_BIN, '--format', 'json', ...files.map((f) => relative(ROOT, f))], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024, timeout: 80_000 }, (error, stdout, stderr) => {
      // exit code 1 = lint errors found (expected); anything else is a toolchain failure
      if (error && error.code !== 1) return reject(new Error(`eslint failed (${String(error.code)}): ${stderr}`));
      try {
        const parsed = JSON.parse(stdout) as Array<{ filePath: string; messages: LintMessage[] }>;
        resolve(new Map(parsed.map((r) => [r.filePath, r.messages])));
      } catch (e) {
        reject(new Error(`eslint output is not JSON: ${String(e)}\n${stderr}`));
      }
    });
  });
}

function removeProbes(): void {
  for (const p of [TARGET, ...Object.values(PROBES)]) rmSync(pathOf(p), { force: true });
}

beforeAll(async () => {
  try {
    for (const p of [TARGET, ...Object.values(PROBES)]) writeFileSync(pathOf(p), p.code);
    results = await runEslint(Object.values(PROBES).map(pathOf));
  } finally {
    removeProbes();
  }
}, 85_000);

afterAll(() => {
  removeProbes();
});

const errorsOf = (c: Case): LintMessage[] => {
  const messages = results.get(pathOf(PROBES[c]));
  if (!messages) throw new Error(`ESLint did not lint ${PROBES[c].dir}/${PROBES[c].name}`);
  return messages.filter((m) => m.severity === 2);
};
const boundaryMessages = (c: Case): string[] => errorsOf(c).filter((m) => m.ruleId === '@nx/enforce-module-boundaries').map((m) => m.message);

describe('module boundaries (npm run lint)', () => {
  it('leaves no probe file behind', () => {
    for (const p of [TARGET, ...Object.values(PROBES)]) expect(existsSync(pathOf(p))).toBe(false);
  });

  it('control: a clean feature-lib file has no lint errors', () => {
    expect(errorsOf('clean')).toEqual([]);
  });

  it('refuses an app importing another app by relative path', () => {
    expect(boundaryMessages('appImportsApp')).toContain('Projects cannot be imported by a relative or absolute path, and must begin with a npm scope');
  });

  it('refuses the NATS client outside libs/platform/messaging (libs/contracts importing @nats-io/jetstream)', () => {
    expect(boundaryMessages('contractsImportsNats')).toContain('A project tagged with "type:util" is not allowed to import "@nats-io/jetstream"');
  });

  it('refuses typeorm in a feature lib (libs/orgo/feature)', () => {
    expect(boundaryMessages('featureImportsTypeorm')).toContain('A project tagged with "type:feature" is not allowed to import "typeorm"');
  });

  it('refuses a domain lib depending on messaging (libs/orgo/domain importing @koa/platform/messaging)', () => {
    expect(boundaryMessages('domainImportsMessaging')).toContain('A project tagged with "type:domain" can only depend on libs tagged with "type:domain", "type:util"');
  });

  it('refuses a scope violation (libs/orgo/feature importing @koa/ingest/domain)', () => {
    expect(boundaryMessages('scopeViolation')).toContain('A project tagged with "scope:orgo" can only depend on libs tagged with "scope:orgo", "scope:platform", "scope:shared"');
  });

  // Node built-ins are not npm packages, so `bannedExternalImports` cannot ban them; the
  // `no-restricted-imports` blocks for type:verify and type:domain sources in eslint.config.mjs do.
  const builtinRefused = (c: Case, module: string): boolean =>
    errorsOf(c).some((m) => (m.ruleId === 'no-restricted-imports' || m.ruleId === '@nx/enforce-module-boundaries') && m.message.includes(module));

  it('refuses network code in the verify lib (libs/release/verify importing node:http)', () => {
    expect(builtinRefused('verifyImportsHttp', 'node:http')).toBe(true);
  });

  it('refuses file-system access in a domain lib (libs/orgo/domain importing node:fs)', () => {
    expect(builtinRefused('domainImportsFs', 'node:fs')).toBe(true);
  });
});
