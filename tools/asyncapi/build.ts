/**
 * Builds the kOA AsyncAPI 3.0.0 document from the contracts library (`@koa/contracts`), so the
 * published description can never drift from the code that validates the wire. Pure: no I/O, no
 * clock; the same catalog gives the same document, byte for byte (`renderAsyncApi`).
 *
 * `npm run asyncapi` (tools/asyncapi/generate.ts) writes the result to docs/asyncapi.yaml;
 * tools/asyncapi/asyncapi.unit.spec.ts fails when the committed file is stale.
 */
import { z } from 'zod';
import { stringify } from 'yaml';
import {
  AGGREGATES,
  CONSUMER_DEFAULTS,
  DEAD_LETTER_HEADERS,
  EVENT_CATALOG,
  EnvelopeSchema,
  ENV_PATTERN,
  IngestMessageSchema,
  NATS_HEADERS,
  NOTICE_TYP,
  OBJECT_STORES,
  REFUSALS,
  ReleaseNoticeClaims,
  STREAMS,
  SUBJECT_ROOTS,
  TOKEN_PATTERN,
  filters,
  type AggregateKind,
  type EventDefinition,
  type StreamSpec,
  createEvent,
  dedupKey,
  type CatalogEntry,
  type NewEvent,
} from '@koa/contracts';
import { SAMPLES } from '@koa/contracts/testing';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/**
 * Who reads which event types (documentation of the receive side; the send side comes from each
 * definition's `producer`). `'*'` means every type on every event channel. A type listed here
 * that is not in the catalog is an error, so this table cannot silently rot.
 */
export const EVENT_SUBSCRIPTIONS: ReadonlyArray<{ service: string; durable: string; types: readonly string[] | '*'; why: string }> = [
  { service: 'audit-ledger', durable: 'audit-ledger', types: '*', why: 'Appends every event once to the hash-chained ledger and keeps the "what happened" projections.' },
  { service: 'orgo-control', durable: 'orgo-control-builds', types: ['io.koa.pipeline.pack.compiled.v1', 'io.koa.pipeline.build.failed.v1'], why: 'Moves Cases forward on build outcomes.' },
  { service: 'orgo-control', durable: 'orgo-control-releases', types: ['io.koa.release.release.activated.v1', 'io.koa.release.release.refused.v1'], why: 'Moves Cases forward on release outcomes.' },
  { service: 'orgo-control', durable: 'orgo-control-cases', types: ['io.koa.orgo.case.opened.v1', 'io.koa.orgo.task.requested.v1', 'io.koa.orgo.task.completed.v1', 'io.koa.orgo.case.closed.v1'], why: 'Keeps the Case read model (the operator API answers from it).' },
  { service: 'pipeline-worker', durable: 'pipeline-worker', types: ['io.koa.orgo.task.requested.v1'], why: 'Runs build tasks (`params.kind = build`); ignores release tasks.' },
  { service: 'konnaxion-release', durable: 'konnaxion-release', types: ['io.koa.orgo.task.requested.v1'], why: 'Runs release tasks (`params.kind = release`); ignores build tasks.' },
  { service: 'konnaxion-release', durable: 'konnaxion-release-channels', types: ['io.koa.release.release.activated.v1'], why: 'Projects activations into the channel status read model.' },
  { service: 'ingest-gateway', durable: 'ingest-gateway-snapshots', types: ['io.koa.ingest.snapshot.captured.v1'], why: 'Keeps the snapshot listing read model.' },
];

const ref = (pointer: string): JsonObject => ({ $ref: pointer });

const TOKEN_RULE = `\`${TOKEN_PATTERN.source}\``;
const ENV_RULE = `\`${ENV_PATTERN.source}\``;

/** JSON Schema (draft-07, the AsyncAPI Schema base) of a zod schema, input side, without `$schema`. */
export function jsonSchemaOf(schema: z.ZodType): JsonObject {
  const out = z.toJSONSchema(schema, { io: 'input', target: 'draft-7' }) as JsonObject;
  delete out['$schema'];
  return out;
}

const streamExtension = (spec: StreamSpec): JsonObject => ({
  name: spec.name,
  subjects: [...spec.subjects],
  description: spec.description,
  storage: spec.storage,
  denyDelete: spec.denyDelete,
  denyPurge: spec.denyPurge,
  duplicateWindowMs: spec.duplicateWindowMs,
  maxMsgsPerSubject: spec.maxMsgsPerSubject,
  maxAgeMs: spec.maxAgeMs,
  maxMsgSize: spec.maxMsgSize,
});

const tokenParam = (what: string, example: string): JsonObject => ({
  description: `${what}. Subject token: must match ${TOKEN_RULE} (1 to 64 letters, digits, \`_\`, \`-\`). Anything else is refused with \`SUBJECT_TOKEN_INVALID\`; it is never escaped and never becomes a wildcard.`,
  examples: [example],
});

const channelId = (aggregate: AggregateKind): string => `evt-${aggregate}`;

const EVENT_HEADERS: JsonObject = {
  type: 'object',
  properties: {
    [NATS_HEADERS.msgId]: {
      type: 'string',
      description: 'De-duplication id: `<source>#<id>` of the envelope (CloudEvents identity). JetStream drops a repeat inside the stream duplicate window; consumers also de-duplicate by it with no time limit.',
      examples: ['/koa/ingest-gateway#01J9Z3Q4W6XK2M8N0P1R2S3T4V'],
    },
    [NATS_HEADERS.expectedLastSubjectSequence]: {
      type: 'string',
      pattern: '^[0-9]+$',
      description: 'Optional, set by the producer: optimistic concurrency on the aggregate subject. The server refuses the append unless the last sequence on this subject equals the value (reported as `CONCURRENCY_CONFLICT`).',
    },
    [NATS_HEADERS.traceparent]: {
      type: 'string',
      pattern: '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$',
      description: 'W3C trace context of the producing span; consumers continue the trace.',
    },
    [NATS_HEADERS.tracestate]: { type: 'string', description: 'W3C trace state, when present.' },
  },
  required: [NATS_HEADERS.msgId],
};

const ENVELOPE_FIELD_DOCS: Record<string, string> = {
  specversion: 'CloudEvents version, always `1.0`.',
  id: 'Event id, unique per `source`. (`source`, `id`) is the identity used for de-duplication.',
  source: 'The producing service: `/koa/<service>`, or `/koa/runtime/<consumerId>` for runtime consumers.',
  type: 'Event type: `io.koa.<domain>.<event>.v<N>`, past tense. Versioned: a published type never changes.',
  subject: 'The aggregate instance: `<aggregate>/<id>`; agrees with the NATS subject `koa.evt.<tenantid>.<aggregate>.<id>`.',
  time: 'When the fact happened (RFC 3339 with offset), supplied by the producer.',
  datacontenttype: 'Always `application/json`.',
  dataschema: 'Optional URI of the data schema.',
  data: 'The event payload; its schema is fixed by `type`.',
  tenantid: `Extension: the tenant; equals the tenant token of the NATS subject. Must match ${TOKEN_RULE}.`,
  correlationid: 'Extension: the Case this event belongs to.',
  causationid: 'Extension: the id of the event that caused this one.',
  actor: 'Extension: who acted: `user:<id>`, `service:<name>`, `schedule:<id>`, `webhook:<source>`, `consumer:<id>`.',
  reason: 'Extension: why, where a person or trigger acted.',
  traceparent: 'Extension: W3C trace context of the producing span.',
};

/** The envelope schema with per-field descriptions (the zod schema carries the rules). */
function envelopeJsonSchema(): JsonObject {
  const schema = jsonSchemaOf(EnvelopeSchema);
  const props = schema['properties'] as Record<string, JsonObject>;
  for (const [field, description] of Object.entries(ENVELOPE_FIELD_DOCS)) {
    if (props[field]) props[field] = { description, ...props[field] };
  }
  return schema;
}

/**
 * An event's payload: the common envelope (by reference) AND its own `type`, `subject` and `data`.
 * `allOf` keeps the envelope's `additionalProperties: false` meaningful (each branch lists every field).
 */
function eventPayloadSchema(def: EventDefinition): JsonObject {
  return {
    allOf: [
      ref('#/components/schemas/CloudEventEnvelope'),
      {
        type: 'object',
        properties: {
          type: { description: ENVELOPE_FIELD_DOCS['type'], type: 'string', const: def.type },
          subject: {
            description: `\`${def.aggregate}/<id>\`; the NATS subject is \`koa.evt.<tenantid>.${def.aggregate}.<id>\`.`,
            type: 'string',
            pattern: `^${def.aggregate}/[A-Za-z0-9_-]{1,64}$`,
          },
          data: { description: def.summary, ...jsonSchemaOf(def.data) },
        },
        required: ['type', 'subject', 'data'],
      },
    ],
  };
}

/** A valid example of the type, from the contract-test samples (fixed ids and time: deterministic). */
function eventExample(def: EventDefinition): Json[] {
  const sample = (SAMPLES as Record<string, Pick<NewEvent<CatalogEntry>, 'aggregateId' | 'data'> | undefined>)[def.type];
  if (!sample) return [];
  const event = createEvent(def as CatalogEntry, {
    id: '01JD8W6M3Q7X2V9K4T5R8N1B6C',
    time: '2026-11-26T10:15:02.481Z',
    source: def.producer === 'runtime' ? `runtime/${sample.aggregateId}` : def.producer,
    tenant: 'acme',
    actor: def.producer === 'runtime' ? `consumer:${sample.aggregateId}` : `service:${def.producer}`,
    correlationId: 'case-1',
    ...sample,
  } as NewEvent<CatalogEntry>);
  return [
    {
      name: 'example',
      summary: `Stored on koa.evt.acme.${def.aggregate}.${sample.aggregateId}`,
      headers: { [NATS_HEADERS.msgId]: dedupKey(event) },
      payload: JSON.parse(JSON.stringify(event)) as Json,
    },
  ];
}

function eventMessage(def: EventDefinition): JsonObject {
  const examples = eventExample(def);
  return {
    name: def.type,
    title: def.type,
    summary: def.summary,
    description: `Produced by \`${def.producer}\` on \`koa.evt.{tenant}.${def.aggregate}.{id}\` (stream \`${STREAMS.events.name}\`). A CloudEvents 1.0 structured JSON envelope; \`data\` follows the schema below. Readers validate it on every read (live and replay) and dead-letter it if it does not match.`,
    contentType: 'application/json',
    correlationId: { description: 'The Case the event belongs to.', location: '$message.payload#/correlationid' },
    headers: EVENT_HEADERS,
    payload: eventPayloadSchema(def),
    ...(examples.length > 0 && { examples }),
  };
}

const pointerToken = (key: string): string => key.replace(/~/g, '~0').replace(/\//g, '~1');

/** The AsyncAPI 3.0.0 document as plain data. Deterministic: key order follows the catalog. */
export function buildAsyncApi(version: string): JsonObject {
  const catalog = EVENT_CATALOG as readonly EventDefinition[];
  const known = new Set(catalog.map((d) => d.type));
  for (const s of EVENT_SUBSCRIPTIONS) {
    if (s.types === '*') continue;
    for (const t of s.types) if (!known.has(t)) throw new Error(`EVENT_SUBSCRIPTIONS: ${s.service} names unknown type ${t}`);
  }

  const messages: Record<string, Json> = {};
  for (const def of catalog) messages[def.type] = eventMessage(def);
  messages['IngestContent'] = {
    name: 'IngestContent',
    title: 'Inbound content (io.koa.ingest.content.v1)',
    summary: 'What an external publisher sends to have content captured: inline bytes or a reference to an object it stored.',
    description:
      'A CloudEvents 1.0 structured JSON envelope published by an external system on `koa.ingest.{tenant}.{source}` (stream `KOA_INGEST`). Untrusted: ingest-gateway validates it, stores the bytes once by sha256 digest and appends `io.koa.ingest.snapshot.captured.v1`, or refuses it and appends `io.koa.ingest.snapshot.rejected.v1` with a refusal code (`INGEST_MALFORMED`, `INGEST_EMPTY`, `INGEST_TOO_LARGE`, `INGEST_OBJECT_NOT_FOUND`). Re-sending the same bytes captures nothing new (de-duplicated by content digest, with no time limit).',
    contentType: 'application/json',
    headers: {
      type: 'object',
      properties: {
        [NATS_HEADERS.msgId]: { type: 'string', description: 'Recommended: the envelope `id`. De-duplicates re-publishes inside the KOA_INGEST duplicate window.' },
        [NATS_HEADERS.traceparent]: { type: 'string', description: 'W3C trace context, if the publisher traces.' },
      },
    },
    payload: jsonSchemaOf(IngestMessageSchema),
  };
  messages['ReleaseNotice'] = {
    name: 'ReleaseNotice',
    title: 'Signed release notice',
    summary: 'A compact JWS whose claims bind tenant, environment, channel, a strictly increasing version, an expiry and the pack digest and size.',
    description: `Published by konnaxion-release on \`koa.release.{tenant}.{env}.{channel}\` (stream \`KOA_RELEASES\`, last ${STREAMS.releases.maxMsgsPerSubject} kept per channel) after the release was verified and the channel pointer moved. The body is the compact JWS text (ASCII). Protected header: \`alg\` (allowlist, EdDSA by default), \`kid\` (a release key of the environment's trust root), \`typ: ${NOTICE_TYP}\`. Claims: schema \`ReleaseNoticeClaims\`. A consumer verifies, in order: parse, algorithm allowlist, key by kid from its pinned root, signature, scope (tenant/env/channel equal its own), version greater than its last trusted version, not expired, then the downloaded pack's digest and size; each failure has its own refusal code (NOTICE_*, RELEASE_PACK_*). See docs/release-notice.md.`,
    contentType: 'application/jose',
    headers: {
      type: 'object',
      properties: { [NATS_HEADERS.msgId]: { type: 'string', description: 'The release id: a re-publish of the same release is de-duplicated.' } },
    },
    payload: ref('#/components/schemas/CompactJws'),
  };
  messages['AuditRecord'] = {
    name: 'AuditRecord',
    title: 'OCSF audit record',
    summary: 'One OCSF record per relevant event, for SIEMs.',
    description: 'Published by audit-ledger on `koa.audit.{tenant}` (stream `KOA_AUDIT`): an OCSF record (class and activity chosen per event) carrying actor, status, tenant and the correlation ids of the event it describes. The same records are served as NDJSON over HTTP with a resume cursor.',
    contentType: 'application/json',
    payload: { type: 'object', description: 'OCSF record (JSON object).' },
  };
  const dlqHeaders: Record<string, Json> = {
    [DEAD_LETTER_HEADERS.code]: { type: 'string', description: 'The refusal code that made the consumer give up (see `x-koa-refusal-codes`).', enum: Object.keys(REFUSALS) },
    [DEAD_LETTER_HEADERS.message]: { type: 'string', description: 'The refusal message, naming the failing field or value.' },
    [DEAD_LETTER_HEADERS.consumer]: { type: 'string', description: 'The durable consumer that dead-lettered the message.' },
    [DEAD_LETTER_HEADERS.originalSubject]: { type: 'string', description: 'The NATS subject of the original message.' },
    [DEAD_LETTER_HEADERS.originalStream]: { type: 'string', description: 'The stream of the original message.' },
    [DEAD_LETTER_HEADERS.originalSeq]: { type: 'string', pattern: '^[0-9]+$', description: 'The stream sequence of the original message.' },
    [DEAD_LETTER_HEADERS.deliveryCount]: { type: 'string', pattern: '^[0-9]+$', description: 'How many times the original message had been delivered.' },
    [NATS_HEADERS.msgId]: { type: 'string', pattern: '^dlq:[A-Za-z0-9_-]{1,64}:[0-9]+$', description: '`dlq:<durable>:<original seq>`: one dead-letter record per message and consumer.' },
  };
  messages['DeadLetter'] = {
    name: 'DeadLetter',
    title: 'Dead-letter record',
    summary: 'A message a consumer could not process: the original bytes, with the refusal in headers.',
    description: `Published on \`koa.dlq.{consumer}\` (stream \`KOA_DLQ\`) by a durable consumer when a message fails validation (\`ENVELOPE_MALFORMED\`, \`EVENT_TYPE_UNKNOWN\`, \`EVENT_DATA_INVALID\`, \`EVENT_SUBJECT_MISMATCH\`), when its handler refuses it permanently, or after ${CONSUMER_DEFAULTS.maxDeliver} failed deliveries (\`MAX_DELIVER_EXCEEDED\`). The record is written before the original is terminated, so nothing is lost; an invalid event is never half-applied.`,
    contentType: 'application/octet-stream',
    headers: { type: 'object', properties: dlqHeaders, required: Object.keys(dlqHeaders) },
    payload: { description: 'The original message bytes, unchanged (usually a kOA envelope, possibly invalid JSON).' },
  };

  const channels: Record<string, Json> = {};
  for (const aggregate of AGGREGATES) {
    const defs = catalog.filter((d) => d.aggregate === aggregate);
    channels[channelId(aggregate)] = {
      address: `${SUBJECT_ROOTS.events}.{tenant}.${aggregate}.{id}`,
      title: `Events of ${aggregate} aggregates`,
      description: `One subject per ${aggregate} instance, in stream \`${STREAMS.events.name}\` (immutable: the server denies delete and purge). Appends to one instance may use \`Nats-Expected-Last-Subject-Sequence\` for optimistic concurrency. Consumers of every ${aggregate} use the filter \`${filters.aggregate(aggregate)}\`.${defs.length === 0 ? ' No event type is published on this aggregate kind yet.' : ''}`,
      parameters: {
        tenant: tokenParam('Tenant id', 'acme'),
        id: tokenParam(aggregate === 'channel' ? 'Channel aggregate id `<env>_<channel>`' : `The ${aggregate} id`, aggregate === 'channel' ? 'prod_stable' : `${aggregate}-1`),
      },
      messages: Object.fromEntries(defs.map((d) => [d.type, ref(`#/components/messages/${pointerToken(d.type)}`)])),
      'x-koa-stream': streamExtension(STREAMS.events),
      'x-koa-filter': filters.aggregate(aggregate),
    };
  }
  channels['ingest'] = {
    address: `${SUBJECT_ROOTS.ingest}.{tenant}.{source}`,
    title: 'Inbound content from external publishers',
    description: `The only subjects external publishers may write (NATS permissions). Stream \`${STREAMS.ingest.name}\`: untrusted input, kept ${STREAMS.ingest.maxAgeMs / 86_400_000} days.`,
    parameters: { tenant: tokenParam('Tenant id', 'acme'), source: tokenParam('Registered source name', 'docs') },
    messages: { IngestContent: ref('#/components/messages/IngestContent') },
    'x-koa-stream': streamExtension(STREAMS.ingest),
  };
  channels['release-notices'] = {
    address: `${SUBJECT_ROOTS.releases}.{tenant}.{env}.{channel}`,
    title: 'Signed release notices',
    description: `Stream \`${STREAMS.releases.name}\` keeps the last ${STREAMS.releases.maxMsgsPerSubject} notices per channel, so a consumer coming online asks for the last message on its subject (direct get or deliver last-per-subject).`,
    parameters: {
      tenant: tokenParam('Tenant id', 'acme'),
      env: { description: `Environment. Must match ${ENV_RULE} (lower case, no \`_\`); anything else is refused with \`SUBJECT_TOKEN_INVALID\`.`, examples: ['prod'] },
      channel: tokenParam('Release channel', 'stable'),
    },
    messages: { ReleaseNotice: ref('#/components/messages/ReleaseNotice') },
    'x-koa-stream': streamExtension(STREAMS.releases),
  };
  channels['audit'] = {
    address: `${SUBJECT_ROOTS.audit}.{tenant}`,
    title: 'Audit records for SIEMs',
    description: `Stream \`${STREAMS.audit.name}\`.`,
    parameters: { tenant: tokenParam('Tenant id', 'acme') },
    messages: { AuditRecord: ref('#/components/messages/AuditRecord') },
    'x-koa-stream': streamExtension(STREAMS.audit),
  };
  channels['dead-letters'] = {
    address: `${SUBJECT_ROOTS.deadLetter}.{consumer}`,
    title: 'Dead-letter records',
    description: `Stream \`${STREAMS.deadLetters.name}\`: one subject per durable consumer. Operators inspect and, after a fix, re-publish the original bytes.`,
    parameters: { consumer: tokenParam('Durable consumer name', 'audit-ledger') },
    messages: { DeadLetter: ref('#/components/messages/DeadLetter') },
    'x-koa-stream': streamExtension(STREAMS.deadLetters),
  };

  const channelMessage = (channel: string, key: string): JsonObject => ref(`#/channels/${channel}/messages/${pointerToken(key)}`);
  const operations: Record<string, Json> = {};
  const producers = [...new Set(catalog.map((d) => d.producer))];
  for (const producer of producers) {
    for (const aggregate of AGGREGATES) {
      const defs = catalog.filter((d) => d.producer === producer && d.aggregate === aggregate);
      if (defs.length === 0) continue;
      operations[`${producer}.send.${channelId(aggregate)}`] = {
        action: 'send',
        channel: ref(`#/channels/${channelId(aggregate)}`),
        title: `${producer} appends ${aggregate} events`,
        summary: `${producer} appends ${defs.map((d) => `\`${d.type}\``).join(', ')}.`,
        messages: defs.map((d) => channelMessage(channelId(aggregate), d.type)),
      };
    }
  }
  for (const sub of EVENT_SUBSCRIPTIONS) {
    for (const aggregate of AGGREGATES) {
      const defs = catalog.filter((d) => d.aggregate === aggregate && (sub.types === '*' || sub.types.includes(d.type)));
      if (defs.length === 0) continue;
      operations[`${sub.durable}.receive.${channelId(aggregate)}`] = {
        action: 'receive',
        channel: ref(`#/channels/${channelId(aggregate)}`),
        title: `${sub.service} reads ${aggregate} events (durable ${sub.durable})`,
        summary: sub.why,
        description: `Durable pull consumer \`${sub.durable}\` on stream \`${STREAMS.events.name}\` (explicit ack; ack wait ${CONSUMER_DEFAULTS.ackWaitMs} ms; at most ${CONSUMER_DEFAULTS.maxDeliver} deliveries, then dead-lettered on \`koa.dlq.${sub.durable}\`). Each delivery is validated before the handler runs.`,
        messages: defs.map((d) => channelMessage(channelId(aggregate), d.type)),
      };
    }
  }
  operations['external-publisher.send.ingest'] = {
    action: 'send',
    channel: ref('#/channels/ingest'),
    title: 'An external system publishes content',
    summary: 'Publish an ingest message; the JetStream ack means KOA_INGEST stored it, not that it was captured (watch for the snapshot events).',
    messages: [channelMessage('ingest', 'IngestContent')],
  };
  operations['ingest-gateway.receive.ingest'] = {
    action: 'receive',
    channel: ref('#/channels/ingest'),
    title: 'ingest-gateway captures inbound content',
    summary: 'Durable consumer `ingest-gateway-inbound`: validate, store by digest, record the snapshot or the refusal.',
    messages: [channelMessage('ingest', 'IngestContent')],
  };
  operations['konnaxion-release.send.release-notices'] = {
    action: 'send',
    channel: ref('#/channels/release-notices'),
    title: 'konnaxion-release publishes a signed notice',
    summary: 'After `io.koa.release.release.activated.v1` is appended.',
    messages: [channelMessage('release-notices', 'ReleaseNotice')],
  };
  operations['runtime.receive.release-notices'] = {
    action: 'receive',
    channel: ref('#/channels/release-notices'),
    title: 'A runtime consumer follows its channel',
    summary: 'Reads the last notice at start, then new ones; verifies offline against its pinned trust root and reports `io.koa.runtime.consumer.activated.v1` or `.refused.v1`.',
    messages: [channelMessage('release-notices', 'ReleaseNotice')],
  };
  operations['audit-ledger.send.audit'] = {
    action: 'send',
    channel: ref('#/channels/audit'),
    title: 'audit-ledger publishes SIEM records',
    messages: [channelMessage('audit', 'AuditRecord')],
  };
  operations['any-consumer.send.dead-letters'] = {
    action: 'send',
    channel: ref('#/channels/dead-letters'),
    title: 'A durable consumer dead-letters a message',
    summary: 'Every service consumer, through the messaging library.',
    messages: [channelMessage('dead-letters', 'DeadLetter')],
  };

  const refusalCodes = Object.keys(REFUSALS);
  const document: JsonObject = {
    asyncapi: '3.0.0',
    info: {
      title: 'kOA',
      version,
      description: [
        'kOA turns external content into verified, signed Runtime Packs. Its five services talk only through NATS JetStream; this document is the contract external systems integrate from. It is generated from `libs/contracts` (`npm run asyncapi`); do not edit it by hand.',
        '',
        '## Invariants',
        '',
        '- **Truth boundary**: nothing live flows downstream un-snapshotted. External publishers may write only `koa.ingest.*`; builds read inputs only by snapshot digest.',
        '- **Determinism**: the same snapshot set and pipeline version give a byte-identical pack with the same digest.',
        '- **Fail-closed gates**: anything unknown or invalid is refused with a stable code (`x-koa-refusal-codes`), never passed on.',
        '- **Offline correctness**: consumers keep answering from the last verified pack; freshness comes only from signed release notices.',
        '',
        '## Envelope',
        '',
        'Every event on `koa.evt.>` is a CloudEvents 1.0 structured-mode JSON envelope (`components.schemas.CloudEventEnvelope`) with the extensions `tenantid`, `correlationid` (the Case), `causationid`, `actor`, `reason` and `traceparent`. `Nats-Msg-Id` is `<source>#<id>`. The event log is immutable: a published event type never changes; a new version is a new type (`.v2`) and older events are upcast when read.',
        '',
        '## Subject tokens',
        '',
        `Tenant, source, channel, consumer and ids must match ${TOKEN_RULE}; environments ${ENV_RULE}. Any other value is refused with \`SUBJECT_TOKEN_INVALID\`, never escaped into a wildcard.`,
      ].join('\n'),
    },
    defaultContentType: 'application/json',
    servers: {
      local: {
        host: 'localhost:4222',
        protocol: 'nats',
        description: 'A local NATS server with JetStream (`nats://localhost:4222`). Production runs a JetStream cluster with R3 streams; see deploy/.',
      },
    },
    channels,
    operations,
    components: {
      schemas: {
        CloudEventEnvelope: envelopeJsonSchema(),
        IngestMessage: jsonSchemaOf(IngestMessageSchema),
        CompactJws: { type: 'string', pattern: '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$', description: 'JWS compact serialization: base64url(header).base64url(claims).base64url(signature).' },
        ReleaseNoticeHeader: {
          type: 'object',
          description: 'Protected header of a release notice.',
          properties: {
            alg: { type: 'string', description: 'Signature algorithm; must be in the verifier allowlist (EdDSA by default).', examples: ['EdDSA'] },
            kid: { type: 'string', description: "Key id of a release key in the environment's trust root." },
            typ: { type: 'string', const: NOTICE_TYP },
          },
          required: ['alg', 'kid', 'typ'],
        },
        ReleaseNoticeClaims: { description: 'Claims of a release notice (the JWS payload).', ...jsonSchemaOf(ReleaseNoticeClaims) },
        RefusalCode: { type: 'string', description: 'A stable refusal code; see `x-koa-refusal-codes` and docs/refusal-codes.md.', enum: refusalCodes },
      },
      messages,
    },
    'x-koa-refusal-codes': Object.fromEntries(
      Object.entries(REFUSALS).map(([code, r]) => [code, { http: r.http, retryable: r.retryable, description: r.description }]),
    ),
    'x-koa-object-stores': Object.fromEntries(
      Object.values(OBJECT_STORES).map((s) => [s.bucket, { description: s.description, objectName: '<tenant>/<sha256 hex>' }]),
    ),
    'x-koa-consumer-defaults': { ackWaitMs: CONSUMER_DEFAULTS.ackWaitMs, maxDeliver: CONSUMER_DEFAULTS.maxDeliver, backoffMs: [...CONSUMER_DEFAULTS.backoffMs], maxAckPending: CONSUMER_DEFAULTS.maxAckPending },
  };
  return document;
}

/**
 * The YAML text written to docs/asyncapi.yaml (no anchors/aliases; stable). Serialised with YAML
 * 1.1 quoting rules, so strings such as times or `yes` stay strings for YAML 1.1 readers too.
 */
export function renderAsyncApi(version: string): string {
  const doc = JSON.parse(JSON.stringify(buildAsyncApi(version))) as JsonObject;
  return `# Generated by \`npm run asyncapi\` from libs/contracts. Do not edit by hand.\n${stringify(doc, { aliasDuplicateObjects: false, lineWidth: 0, version: '1.1' })}`;
}
