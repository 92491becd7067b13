import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { Logger } from '@nestjs/common';
import { isKoaRefusal, KoaRefusal } from '@koa/contracts';
import { Messaging } from '@koa/platform/messaging';
import { openDataSource, type DataSource } from '@koa/platform/persistence';
import { renderCaseStory, renderReleaseStory } from '@koa/ledger/domain';
import { LEDGER_DB_SCHEMA, LEDGER_ENTITIES, LEDGER_MIGRATIONS, LedgerService } from '@koa/ledger/feature';

const USAGE = `audit-ledger CLI: answers "what happened" from the ledger's projections.

Usage:
  node -r @swc-node/register apps/audit-ledger/src/cli.ts <command> [options]

Commands:
  what-happened --tenant <t> --release <id> [--json]   the story of one release
  what-happened --tenant <t> --case <id> [--json]      the story of one Case
  verify [--json]                                      verify the hash chain (exit 1 if broken)
  rebuild [--json]                                     truncate projections and replay KOA_EVENTS (needs NATS_URL)
  projections [--json]                                 projection versions and last applied seq

Environment:
  DATABASE_URL   postgres:// URL of the service database (schema "ledger")   (required)
  NATS_URL       nats:// URL, for rebuild

Exit codes: 0 done; 1 refused (the code and message are printed on stderr); 2 usage error.
`;

const out = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
const json = (value: unknown) => out(JSON.stringify(value, null, 2));

function required(name: string, value: string | undefined): string {
  if (!value) throw new KoaRefusal('CONFIG_INVALID', `${name} is required`, { variable: name });
  return value;
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { tenant: { type: 'string' }, release: { type: 'string' }, case: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
    });
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command] = positionals;
  if (values.help || !command) {
    (values.help ? process.stdout : process.stderr).write(USAGE);
    return values.help ? 0 : 2;
  }
  if (!['what-happened', 'verify', 'rebuild', 'projections'].includes(command)) {
    process.stderr.write(`unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
    return 2;
  }
  if (command === 'what-happened' && (!values.tenant || !!values.release === !!values.case)) {
    process.stderr.write(`what-happened needs --tenant and exactly one of --release or --case\n\n${USAGE}`);
    return 2;
  }

  Logger.overrideLogger(['error']);
  let ds: DataSource | undefined;
  let messaging: Messaging | undefined;
  try {
    ds = await openDataSource({ url: required('DATABASE_URL', process.env['DATABASE_URL']), schema: LEDGER_DB_SCHEMA, entities: LEDGER_ENTITIES, migrations: LEDGER_MIGRATIONS, applicationName: 'audit-ledger-cli', poolSize: 2 });
    if (command === 'rebuild') messaging = await Messaging.connect({ url: required('NATS_URL', process.env['NATS_URL']), name: 'audit-ledger-cli' });
    const ledger = new LedgerService(ds, messaging);
    switch (command) {
      case 'what-happened': {
        const tenant = values.tenant as string;
        if (values.release) {
          const story = await ledger.releaseStory(tenant, values.release);
          if (values.json) json(story);
          else out(renderReleaseStory(story));
        } else {
          const story = await ledger.caseStory(tenant, values.case as string);
          if (values.json) json(story);
          else out(renderCaseStory(story));
        }
        return 0;
      }
      case 'verify': {
        const result = await ledger.verify();
        if (values.json) json(result);
        else out(`ledger OK: ${result.size} entries, head ${result.headHash} (stream seq ${result.headSeq})`);
        return 0;
      }
      case 'rebuild': {
        const report = await ledger.rebuild();
        if (values.json) json(report);
        else out(`projections rebuilt up to stream seq ${report.untilSeq}: ${report.applied} events applied, ${report.skipped} stream messages not in the ledger skipped`);
        return 0;
      }
      case 'projections': {
        const status = await ledger.projectionStatus();
        if (values.json) json(status);
        else for (const p of status) out(`${p.name.padEnd(10)} v${p.version} (code v${p.codeVersion}) last seq ${p.lastSeq}${p.rebuiltAt ? ` rebuilt ${p.rebuiltAt}` : ''}${p.version !== p.codeVersion ? '  REBUILD DUE' : ''}`);
        return 0;
      }
      default:
        return 2;
    }
  } catch (e) {
    if (isKoaRefusal(e)) {
      if (values.json) process.stderr.write(`${JSON.stringify(e.toJSON())}\n`);
      else process.stderr.write(`${e.code}: ${e.message}${Object.keys(e.details).length ? ` ${JSON.stringify(e.details)}` : ''}\n`);
      return 1;
    }
    process.stderr.write(`INTERNAL: ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  } finally {
    await messaging?.close().catch(() => undefined);
    await ds?.destroy().catch(() => undefined);
  }
}

void main(process.argv.slice(2)).then((code) => process.exit(code));
