import { z } from 'zod';
import { EnvelopeSchema, type KoaEvent } from './envelope';
import { KoaRefusal } from './refusals';
import { parseEventSubject, subjects } from './subjects';
import type { EventDefinition, EventOf } from './events/define';
import { SnapshotCaptured, SnapshotRejected, SnapshotSetSealed } from './events/ingest';
import { CaseClosed, CaseOpened, TaskCompleted, TaskRequested } from './events/orgo';
import { BuildFailed, BuildStarted, PackCompiled, StageCompleted, StageFailed, ValidationRecorded } from './events/pipeline';
import { ChannelAdvanced, ConsumerActivated, ConsumerRefused, ReleaseActivated, ReleaseRefused, ReleaseVerified } from './events/release';

/** Every event type of the product. Add new types here; never remove one (upcast instead). */
export const EVENT_CATALOG = [
  SnapshotCaptured,
  SnapshotRejected,
  SnapshotSetSealed,
  CaseOpened,
  TaskRequested,
  TaskCompleted,
  CaseClosed,
  BuildStarted,
  StageCompleted,
  StageFailed,
  ValidationRecorded,
  PackCompiled,
  BuildFailed,
  ReleaseVerified,
  ReleaseRefused,
  ReleaseActivated,
  ChannelAdvanced,
  ConsumerActivated,
  ConsumerRefused,
] as const;

export type CatalogEntry = (typeof EVENT_CATALOG)[number];
export type KoaEventType = CatalogEntry['type'];
/** The union of every typed event in the catalog; narrow with `event.type`. */
export type AnyKoaEvent = { [K in keyof typeof EVENT_CATALOG]: EventOf<(typeof EVENT_CATALOG)[K]> }[number];
export type EventByType<T extends KoaEventType> = Extract<AnyKoaEvent, { type: T }>;

const BY_TYPE: ReadonlyMap<string, EventDefinition> = new Map(EVENT_CATALOG.map((d) => [d.type, d as EventDefinition]));

export const eventDefinition = (type: string): EventDefinition | undefined => BY_TYPE.get(type);

/**
 * Upcasters turn an older stored event into the current shape when it is read (stored events
 * are never rewritten). Keyed by the old type; each returns an envelope of a newer type.
 */
export const UPCASTERS: ReadonlyMap<string, (e: KoaEvent) => KoaEvent> = new Map();

function issuesText(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

/**
 * Validates anything read from the wire (bytes, string or parsed JSON) into a typed event.
 * The refusal names the field that failed. Used on live delivery and replay alike.
 * If `natsSubject` is given, it must agree with the envelope's tenant and subject.
 */
export function parseEvent(input: Uint8Array | string | unknown, natsSubject?: string): AnyKoaEvent {
  let raw: unknown = input;
  if (input instanceof Uint8Array || typeof input === 'string') {
    const text = typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8');
    try {
      raw = JSON.parse(text);
    } catch (cause) {
      throw new KoaRefusal('ENVELOPE_MALFORMED', `envelope is not valid JSON: ${(cause as Error).message}`, {}, { cause });
    }
  }
  const envelope = EnvelopeSchema.safeParse(raw);
  if (!envelope.success) {
    throw new KoaRefusal('ENVELOPE_MALFORMED', `envelope invalid: ${issuesText(envelope.error)}`, { issues: envelope.error.issues.slice(0, 5).map((i) => i.path.join('.')) });
  }
  let event = envelope.data as KoaEvent;
  for (let up = UPCASTERS.get(event.type); up; up = UPCASTERS.get(event.type)) event = up(event);
  const def = BY_TYPE.get(event.type);
  if (!def) throw new KoaRefusal('EVENT_TYPE_UNKNOWN', `event type ${JSON.stringify(event.type)} is not in the catalog`, { type: event.type });
  const [aggregate] = event.subject.split('/');
  if (aggregate !== def.aggregate) {
    throw new KoaRefusal('EVENT_SUBJECT_MISMATCH', `subject ${JSON.stringify(event.subject)} is not a ${def.aggregate} for type ${event.type}`, { type: event.type });
  }
  if (natsSubject !== undefined) {
    const parsed = parseEventSubject(natsSubject);
    if (!parsed || parsed.tenant !== event.tenantid || `${parsed.aggregate}/${parsed.id}` !== event.subject) {
      throw new KoaRefusal('EVENT_SUBJECT_MISMATCH', `NATS subject ${natsSubject} does not match tenant ${event.tenantid} and subject ${event.subject}`, { natsSubject });
    }
  }
  const data = def.data.safeParse(event.data);
  if (!data.success) {
    throw new KoaRefusal('EVENT_DATA_INVALID', `${event.type} data invalid: ${issuesText(data.error)}`, { type: event.type, issues: data.error.issues.slice(0, 5).map((i) => i.path.join('.')) });
  }
  return Object.freeze({ ...event, data: data.data }) as AnyKoaEvent;
}

export interface NewEvent<D extends EventDefinition> {
  /** unique per source; supplied by the caller (no hidden randomness here) */
  readonly id: string;
  /** ISO-8601 time, supplied by the caller (time enters as data) */
  readonly time: string;
  /** the producing service, e.g. `ingest-gateway`, or `runtime/<consumerId>` */
  readonly source: string;
  readonly tenant: string;
  readonly aggregateId: string;
  readonly actor: string;
  readonly data: z.input<D['data']>;
  readonly correlationId?: string;
  readonly causationId?: string;
  readonly reason?: string;
  readonly traceparent?: string;
}

/**
 * The validated-event brand: event objects `createEvent` returned. Each is deep-frozen before it
 * is added (so it cannot change after validation) and identity is the key (a copy, a proxy or a
 * hand-built look-alike is not in the set). Module-private: nothing outside this file can add to it.
 */
const VALIDATED = new WeakSet<object>();

/** Freezes plain JSON-like data (objects, arrays, primitives) in place; false if it holds anything else (then it is not branded). */
function deepFreeze(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return typeof value !== 'function' && typeof value !== 'symbol';
  const proto = Object.getPrototypeOf(value) as unknown;
  if (Array.isArray(value)) {
    if (proto !== Array.prototype) return false;
    for (const v of value) if (!deepFreeze(v)) return false;
  } else {
    if (proto !== Object.prototype && proto !== null) return false;
    for (const k in value) if (!deepFreeze((value as Record<string, unknown>)[k])) return false;
  }
  Object.freeze(value);
  return true;
}

/**
 * Whether `event` is an object `createEvent` returned — validated by `parseEvent` and deep-frozen
 * since, so validating it again would give the same answer. `Messaging.append` skips re-validating
 * such events; anything else (parsed JSON, a spread copy, a hand-built object) is validated as usual.
 */
export function isValidatedEvent(event: unknown): event is AnyKoaEvent {
  return typeof event === 'object' && event !== null && VALIDATED.has(event);
}

/**
 * Builds a validated envelope for a catalog event. Throws KoaRefusal (EVENT_DATA_INVALID, ...) on
 * bad input. The result is deep-frozen and carries the validated-event brand (`isValidatedEvent`).
 */
export function createEvent<D extends CatalogEntry>(def: D, args: NewEvent<D>): EventOf<D> {
  const envelope = {
    specversion: '1.0',
    id: args.id,
    source: `/koa/${args.source}`,
    type: def.type,
    subject: `${def.aggregate}/${args.aggregateId}`,
    time: args.time,
    datacontenttype: 'application/json',
    data: args.data,
    tenantid: args.tenant,
    actor: args.actor,
    ...(args.correlationId !== undefined && { correlationid: args.correlationId }),
    ...(args.causationId !== undefined && { causationid: args.causationId }),
    ...(args.reason !== undefined && { reason: args.reason }),
    ...(args.traceparent !== undefined && { traceparent: args.traceparent }),
  };
  const event = parseEvent(envelope);
  // parseEvent's result is built afresh (zod copies objects and arrays; no schema passes input objects through), so freezing it freezes nothing of the caller's
  if (deepFreeze(event)) VALIDATED.add(event);
  return event as unknown as EventOf<D>;
}

/** The NATS subject an event is stored on: `koa.evt.<tenant>.<aggregate>.<id>`. */
export function subjectOf(event: Pick<KoaEvent, 'tenantid' | 'subject'>): string {
  const [aggregate, id] = event.subject.split('/');
  const def = [...BY_TYPE.values()].find((d) => d.aggregate === aggregate);
  if (!def) throw new KoaRefusal('EVENT_SUBJECT_MISMATCH', `unknown aggregate in subject ${event.subject}`);
  return subjects.event(event.tenantid, def.aggregate, id);
}
