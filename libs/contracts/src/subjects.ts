import { assertToken, channelAggregateId } from './tokens';

/**
 * Subject layout (ARCHITECTURE.md §4), declared once. Services never concatenate subjects:
 * they call these builders, which refuse an invalid token instead of producing a wildcard.
 */
export const SUBJECT_ROOTS = {
  events: 'koa.evt',
  ingest: 'koa.ingest',
  releases: 'koa.release',
  audit: 'koa.audit',
  deadLetter: 'koa.dlq',
} as const;

/** Aggregate kinds that own a subject in the event log. */
export const AGGREGATES = ['snapshot', 'snapshotset', 'ingest', 'case', 'build', 'release', 'channel', 'consumer', 'ledger'] as const;
export type AggregateKind = (typeof AGGREGATES)[number];

export const subjects = {
  /** `koa.evt.<tenant>.<aggregate>.<id>`: one subject per aggregate instance. */
  event: (tenant: string, aggregate: AggregateKind, id: string): string =>
    `${SUBJECT_ROOTS.events}.${assertToken('tenant', tenant)}.${assertToken('aggregate', aggregate)}.${assertToken('id', id)}`,
  /** `koa.ingest.<tenant>.<source>`: raw inbound from external publishers (untrusted). */
  ingest: (tenant: string, source: string): string =>
    `${SUBJECT_ROOTS.ingest}.${assertToken('tenant', tenant)}.${assertToken('source', source)}`,
  /** `koa.release.<tenant>.<env>.<channel>`: signed release notices. */
  release: (tenant: string, env: string, channel: string): string =>
    `${SUBJECT_ROOTS.releases}.${assertToken('tenant', tenant)}.${assertToken('env', env)}.${assertToken('channel', channel)}`,
  /** `koa.audit.<tenant>`: OCSF records for SIEMs. */
  audit: (tenant: string): string => `${SUBJECT_ROOTS.audit}.${assertToken('tenant', tenant)}`,
  /** `koa.dlq.<consumer>`: dead-letter records of one durable consumer. */
  deadLetter: (consumer: string): string => `${SUBJECT_ROOTS.deadLetter}.${assertToken('consumer', consumer)}`,
  /** The channel aggregate subject: id `<env>_<channel>`. */
  channel: (tenant: string, env: string, channel: string): string =>
    subjects.event(tenant, 'channel', channelAggregateId(env, channel)),
} as const;

/** Filters (wildcards are only ever produced here, from literal patterns). */
export const filters = {
  allEvents: `${SUBJECT_ROOTS.events}.>`,
  /** every instance of one aggregate kind, all tenants: `koa.evt.*.<aggregate>.*` */
  aggregate: (aggregate: AggregateKind): string => `${SUBJECT_ROOTS.events}.*.${assertToken('aggregate', aggregate)}.*`,
  allIngest: `${SUBJECT_ROOTS.ingest}.>`,
  allReleases: `${SUBJECT_ROOTS.releases}.>`,
  allAudit: `${SUBJECT_ROOTS.audit}.>`,
  allDeadLetters: `${SUBJECT_ROOTS.deadLetter}.>`,
} as const;

/** Parses `koa.evt.<tenant>.<aggregate>.<id>`; returns undefined for anything else. */
export function parseEventSubject(subject: string): { tenant: string; aggregate: string; id: string } | undefined {
  const parts = subject.split('.');
  if (parts.length !== 5 || `${parts[0]}.${parts[1]}` !== SUBJECT_ROOTS.events) return undefined;
  return { tenant: parts[2], aggregate: parts[3], id: parts[4] };
}

/** Parses `koa.ingest.<tenant>.<source>`. */
export function parseIngestSubject(subject: string): { tenant: string; source: string } | undefined {
  const parts = subject.split('.');
  if (parts.length !== 4 || `${parts[0]}.${parts[1]}` !== SUBJECT_ROOTS.ingest) return undefined;
  return { tenant: parts[2], source: parts[3] };
}

/** Parses `koa.release.<tenant>.<env>.<channel>`. */
export function parseReleaseSubject(subject: string): { tenant: string; env: string; channel: string } | undefined {
  const parts = subject.split('.');
  if (parts.length !== 5 || `${parts[0]}.${parts[1]}` !== SUBJECT_ROOTS.releases) return undefined;
  return { tenant: parts[2], env: parts[3], channel: parts[4] };
}
