import { readFileSync } from 'node:fs';
import { Parser } from '@asyncapi/parser';
import { parse } from 'yaml';
// ajv comes with @asyncapi/parser (a transitive dependency): used only to check examples against the generated schemas
import Ajv from 'ajv';
import { EVENT_CATALOG, REFUSALS, STREAMS } from '@koa/contracts';
import { buildAsyncApi, renderAsyncApi, EVENT_SUBSCRIPTIONS } from './build';
import { ASYNCAPI_PATH, packageVersion } from './generate';

const ERROR_SEVERITY = 0; // DiagnosticSeverity.Error (spectral)

describe('docs/asyncapi.yaml', () => {
  const generated = renderAsyncApi(packageVersion());

  it('is up to date with libs/contracts (run `npm run asyncapi` if this fails)', () => {
    let committed: string;
    try {
      committed = readFileSync(ASYNCAPI_PATH, 'utf8');
    } catch {
      throw new Error('docs/asyncapi.yaml is missing: run npm run asyncapi');
    }
    if (committed !== generated) throw new Error('docs/asyncapi.yaml is stale: run npm run asyncapi and commit the result');
  });

  it('is deterministic', () => {
    expect(renderAsyncApi(packageVersion())).toBe(generated);
  });

  it('is a valid AsyncAPI 3.0.0 document with no error diagnostics', async () => {
    const { document, diagnostics } = await new Parser().parse(generated);
    const errors = diagnostics.filter((d) => d.severity === ERROR_SEVERITY).map((d) => `${d.code} ${d.message} at ${d.path.join('.')}`);
    expect(errors).toEqual([]);
    expect(document).toBeDefined();
    expect(document?.version()).toBe('3.0.0');
    const messageIds = document?.allMessages().all().map((m) => m.id()) ?? [];
    for (const def of EVENT_CATALOG) expect(messageIds).toContain(def.type);
    // a channel address per subject family
    const addresses = document?.allChannels().all().map((c) => c.address()) ?? [];
    expect(addresses).toEqual(expect.arrayContaining(['koa.evt.{tenant}.release.{id}', 'koa.ingest.{tenant}.{source}', 'koa.release.{tenant}.{env}.{channel}', 'koa.audit.{tenant}', 'koa.dlq.{consumer}']));
  }, 30_000);

  it('describes every catalog type as a message whose payload pins its type and data schema', () => {
    const doc = parse(generated) as { components: { messages: Record<string, { name: string; payload: { allOf: Array<{ properties?: Record<string, { const?: string }> }> } }> } };
    for (const def of EVENT_CATALOG) {
      const message = doc.components.messages[def.type];
      expect(message?.name).toBe(def.type);
      expect(message.payload.allOf[1].properties?.['type']?.const).toBe(def.type);
      expect(message.payload.allOf[1].properties?.['data']).toBeDefined();
    }
  });

  it('has a send operation for every producer and lists every refusal code', () => {
    const doc = buildAsyncApi('0.0.0') as { operations: Record<string, { action: string }>; 'x-koa-refusal-codes': Record<string, unknown> };
    for (const def of EVENT_CATALOG) {
      const key = `${def.producer}.send.evt-${def.aggregate}`;
      expect(doc.operations[key]?.action).toBe('send');
    }
    expect(Object.keys(doc['x-koa-refusal-codes'])).toEqual(Object.keys(REFUSALS));
    expect(generated).toContain(STREAMS.events.name);
  });

  it('receive operations only name catalog types', () => {
    const known = new Set<string>(EVENT_CATALOG.map((d) => d.type));
    for (const s of EVENT_SUBSCRIPTIONS) if (s.types !== '*') for (const t of s.types) expect(known.has(t)).toBe(true);
  });

  it('every event example validates against its generated JSON Schema, and a broken one does not', () => {
    type Msg = { payload: { allOf: [unknown, Record<string, unknown>] }; examples?: Array<{ payload: Record<string, unknown> }> };
    const doc = parse(generated) as { components: { schemas: { CloudEventEnvelope: object }; messages: Record<string, Msg> } };
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    let checked = 0;
    for (const def of EVENT_CATALOG) {
      const message = doc.components.messages[def.type];
      const validate = ajv.compile({ allOf: [doc.components.schemas.CloudEventEnvelope, message.payload.allOf[1]] });
      for (const example of message.examples ?? []) {
        expect({ type: def.type, valid: validate(example.payload), errors: validate.errors ?? null }).toEqual({ type: def.type, valid: true, errors: null });
        const data = example.payload['data'] as Record<string, unknown>;
        const firstField = Object.keys(data)[0];
        expect(validate({ ...example.payload, data: { ...data, [firstField]: { not: 'valid' } } })).toBe(false);
        expect(validate({ ...example.payload, extra: 1 })).toBe(false);
        checked++;
      }
    }
    expect(checked).toBe(EVENT_CATALOG.length);
  });
});
