import { createHash } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { metrics } from '@opentelemetry/api';
import {
  ChannelAdvanced,
  KoaRefusal,
  OBJECT_STORES,
  ReleaseActivated,
  ReleaseRefused,
  ReleaseVerified,
  STREAMS,
  createEvent,
  objectNameFor,
  sha256Digest,
  subjects,
  channelAggregateId,
  isKoaRefusal,
  type AnyKoaEvent,
  type Digest,
  type EventByType,
  type KoaEvent,
  type ReleaseNoticeClaims,
} from '@koa/contracts';
import { CachedAggregates, ConcurrencyConflict, type Messaging, type RawMessage } from '@koa/platform/messaging';
import type { Clock } from '@koa/platform/service';
import {
  channelEntryBefore,
  channelEntryOf,
  decideAdvance,
  decideRelease,
  foldChannel,
  foldRelease,
  isChannelAdvanced,
  isReleaseEvent,
  releaseIdFor,
  type ChannelEntry,
  type ChannelState,
  type EnvironmentPolicy,
  type PackStructureFact,
  type ReleaseFacts,
  type ReleaseRequest,
  type ReleaseState,
  type StoredPackMeasurement,
} from '@koa/release/domain';
import { PACK_MAX_BYTES_DEFAULT, decodePack } from '@koa/pack-format';
import { signReleaseNotice } from '@koa/release/signing';
import type { ReleaseKeyProvider } from './keys';
import { RECENT_PACK_MAX_BYTES, type RecentPacks } from './recent-packs';

type TaskRequested = EventByType<'io.koa.orgo.task.requested.v1'>;
type ChannelRead = { state: ChannelState; lastSequence: number; events: readonly AnyKoaEvent[] };
type PublishCheck = [ChannelRead, RawMessage | undefined];
interface SignedActivation {
  readonly activated: ActivatedData;
  readonly kid: string;
  readonly keyEnv: string;
}
/** reads started before the release aggregate is known (first attempt only) */
interface Prefetch {
  readonly facts: Promise<ReleaseFacts>;
  readonly channel: Promise<ChannelRead>;
}
type ActivatedData = EventByType<'io.koa.release.release.activated.v1'>['data'];

/** The settings the release process needs (a slice of `ReleaseConfig`). */
export interface ReleaseProcessSettings {
  readonly TRUSTED_BUILDERS: readonly string[];
  readonly ENVIRONMENTS: readonly string[];
  readonly RELEASE_NOTICE_TTL_SECONDS: number;
  readonly PACK_DOWNLOAD_MAX_BYTES: number;
}

/** What handling one release task did (for logs and tests). */
export type ReleaseOutcome =
  | { readonly outcome: 'ignored'; readonly reason: string }
  | { readonly outcome: 'refused'; readonly releaseId: string; readonly code: string; readonly resumed: boolean }
  | {
      readonly outcome: 'activated';
      readonly releaseId: string;
      readonly version: number;
      /** true if this call found the release already activated (redelivery) */
      readonly resumed: boolean;
      /** what happened to the notice on KOA_RELEASES */
      readonly notice: 'published' | 'already-published' | 'superseded';
    };

/** Attempts of the whole (idempotent) run when an optimistic-concurrency append loses a race. */
export const MAX_CONCURRENCY_ATTEMPTS = 6;

/** Jittered pause before re-running after a lost race, so contenders spread out (≤ 25 ms × attempt). */
const backoff = (attempt: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 25 * attempt)));

const SOURCE = 'konnaxion-release';
const ACTOR = 'service:konnaxion-release';
const utf8 = new TextEncoder();

/**
 * Deterministic event id for one step of one release: redelivery produces the same id, so the
 * stream's `Nats-Msg-Id` de-duplication and the aggregate state agree. Tenant-scoped (task ids
 * are only unique per tenant); hashed if the readable form would exceed the envelope's 128 chars.
 */
export function releaseEventId(tenant: string, releaseId: string, step: 'verified' | 'refused' | 'advanced' | 'activated'): string {
  const readable = `${tenant}:${releaseId}:${step}`;
  return readable.length <= 128 ? readable : `${step}:${createHash('sha256').update(`${tenant}:${releaseId}`).digest('hex')}`;
}

/**
 * The release handler's logic, independent of Nest and of the transport: given a `TaskRequested`
 * release task, verify before activating, sign the notice, move the channel with optimistic
 * concurrency, record the activation and publish the notice.
 *
 * Every step is idempotent and the run is re-entrant: it starts by reading the release
 * aggregate and resumes where an earlier (crashed or concurrent) run stopped:
 *
 * | release state | channel | what a run does |
 * |---|---|---|
 * | none | – | gather facts, `decideRelease`; append `ReleaseRefused` (stop) or `ReleaseVerified` |
 * | verified | not advanced by this release | append `ChannelAdvanced` (version = last + 1, expected last seq) |
 * | verified | advanced by this release | sign the notice for that version, append `ReleaseActivated` |
 * | activated | head is this release | publish the stored notice unless it is already the last on its subject |
 * | activated | head moved on | nothing (a newer release owns the subject) |
 * | refused | – | nothing |
 *
 * A lost race (`ConcurrencyConflict`) re-runs the whole thing from the top, up to
 * {@link MAX_CONCURRENCY_ATTEMPTS} times, then surfaces the (retryable) conflict so the delivery
 * is nak'ed and retried later.
 */
export class ReleaseProcess {
  private readonly log = new Logger('ReleaseProcess');
  /** gate outcomes (ARCHITECTURE.md §8): `koa.release.decisions{outcome, code, env}` */
  private readonly decisions = metrics.getMeter('konnaxion-release').createCounter('koa.release.decisions', {
    description: 'Pre-activation release decisions, by outcome (verified/refused), refusal code and environment',
  });

  /** the channels this process last read or advanced (validated by last sequence before each use) */
  private readonly channelLog: CachedAggregates;
  /** the `koa-packs` object store, opened once (each opening is a stream-info round trip) */

  constructor(
    private readonly messaging: Messaging,
    private readonly keys: ReleaseKeyProvider,
    private readonly clock: Clock,
    private readonly settings: ReleaseProcessSettings,
    private readonly policy: EnvironmentPolicy = { environments: settings.ENVIRONMENTS },
    /** where verified pack bytes are left for the downloads that follow the notice (optional) */
    private readonly recent?: RecentPacks,
  ) {
    this.channelLog = new CachedAggregates(messaging);
  }

  /**
   * Handles one `TaskRequested`. Build tasks are ignored. `working` is called during long steps
   * (hashing the pack) to extend the delivery's ack deadline.
   */
  async handleTask(task: TaskRequested, working: () => void = () => undefined): Promise<ReleaseOutcome> {
    const params = task.data.params;
    if (params.kind !== 'release') return { outcome: 'ignored', reason: `task ${task.data.taskId} is a ${params.kind} task` };
    const request: ReleaseRequest = {
      tenant: task.tenantid,
      caseId: task.data.caseId,
      taskId: task.data.taskId,
      buildId: params.buildId,
      env: params.env,
      channel: params.channel,
      pack: params.pack,
      evidenceDigest: params.evidenceDigest,
      provenanceDigest: params.provenanceDigest,
    };
    const releaseId = releaseIdFor(request.taskId);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.run(task, request, releaseId, working, attempt === 1 ? this.prefetch(request, working) : undefined);
      } catch (e) {
        if (e instanceof ConcurrencyConflict && attempt < MAX_CONCURRENCY_ATTEMPTS) {
          this.log.debug({ msg: 'lost an append race; reloading', releaseId, attempt, subject: e.subject });
          await backoff(attempt);
          continue;
        }
        throw e;
      }
    }
  }

  /**
   * The facts and the channel of a new release are read while the release aggregate is (one round
   * trip saved on the usual path; all read-only — every append stays guarded by its sequence). A
   * redelivery of a finished release wastes them.
   */
  private prefetch(request: ReleaseRequest, working: () => void): Prefetch {
    const facts = this.gatherFacts(request, working);
    const channel = this.readChannel(request.tenant, request.env, request.channel);
    // awaited (and their failures reported) only on the paths that use them
    facts.catch(() => undefined);
    channel.catch(() => undefined);
    return { facts, channel };
  }

  private async run(task: TaskRequested, request: ReleaseRequest, releaseId: string, working: () => void, pre?: Prefetch): Promise<ReleaseOutcome> {
    const release = await this.readRelease(request.tenant, releaseId);
    const state = release.state;
    switch (state.status) {
      case 'refused':
        return { outcome: 'refused', releaseId, code: state.refused.code, resumed: true };
      case 'activated':
        return { outcome: 'activated', releaseId, version: state.activated.version, resumed: true, notice: await this.ensurePublished(request.tenant, state.activated) };
      case 'none': {
        // the channel is read while the facts are gathered (read-only: the advance is still guarded by its sequence)
        const channelRead = pre?.channel ?? this.readChannel(request.tenant, request.env, request.channel);
        channelRead.catch(() => undefined); // a refusal never looks at it; a failure surfaces where it is awaited
        const decision = decideRelease(await (pre?.facts ?? this.gatherFacts(request, working)));
        if (!decision.verified) {
          await this.append(
            this.event(ReleaseRefused, task, releaseId, 'refused', {
              releaseId,
              caseId: request.caseId,
              taskId: request.taskId,
              env: request.env,
              channel: request.channel,
              packDigest: request.pack.digest,
              code: decision.code,
              message: decision.message.slice(0, 1024),
            }),
            release.lastSequence,
          );
          this.decisions.add(1, { outcome: 'refused', code: decision.code, env: request.env });
          this.log.warn({ msg: 'release refused', tenant: request.tenant, caseId: request.caseId, releaseId, code: decision.code, check: decision.check, detail: decision.message });
          return { outcome: 'refused', releaseId, code: decision.code, resumed: false };
        }
        const ack = await this.append(
          this.event(ReleaseVerified, task, releaseId, 'verified', {
            releaseId,
            caseId: request.caseId,
            taskId: request.taskId,
            env: request.env,
            channel: request.channel,
            packDigest: request.pack.digest,
            checks: decision.checks.map((c) => ({ check: c.check, passed: true as const })),
          }),
          release.lastSequence,
        );
        if (ack.duplicate) return this.run(task, request, releaseId, working);
        this.decisions.add(1, { outcome: 'verified', env: request.env });
        return this.activate(task, request, releaseId, ack.seq, channelRead);
      }
      case 'verified':
        return this.activate(task, request, releaseId, release.lastSequence, pre?.channel);
      default: {
        const _exhaustive: never = state;
        throw new KoaRefusal('INTERNAL', `release ${releaseId}: unknown state`);
      }
    }
  }

  /** verified ⇒ channel advanced ⇒ notice signed ⇒ ReleaseActivated ⇒ notice published. */
  private async activate(task: TaskRequested, request: ReleaseRequest, releaseId: string, releaseSeq: number, channelRead?: Promise<ChannelRead>): Promise<ReleaseOutcome> {
    const { tenant, env, channel } = request;
    let channelState = await (channelRead ?? this.readChannel(tenant, env, channel));
    const advance = decideAdvance(channelState.state, { releaseId, packDigest: request.pack.digest });
    let presigned: Promise<SignedActivation> | undefined;
    if (!advance.alreadyAdvanced) {
      // the notice for the version being claimed is signed while the claim is appended; it is used
      // only if the claim is stored as appended (never published otherwise: it stays in memory)
      presigned = this.signActivation(request, releaseId, advance.entry, advance.previous);
      presigned.catch(() => undefined); // awaited below, after the append
      const channelId = channelAggregateId(env, channel);
      const advanced = this.event(ChannelAdvanced, task, channelId, 'advanced', { env, channel, version: advance.entry.version, releaseId, packDigest: request.pack.digest }, releaseId);
      let ack: { seq: number; duplicate: boolean };
      try {
        ack = await this.append(advanced, channelState.lastSequence);
      } catch (e) {
        this.channelLog.forget(tenant, 'channel', channelId);
        throw e;
      }
      this.channelLog.appended(tenant, 'channel', channelId, channelState, [advanced], [ack]);
      // a duplicate ack means an earlier attempt stored it: read back what is really there
      if (ack.duplicate) {
        channelState = await this.readChannel(tenant, env, channel);
        presigned = undefined;
      }
    }
    const { entry, previous } = positionOf(channelState.state, advance, releaseId);
    const { activated, kid, keyEnv } = await (presigned ?? this.signActivation(request, releaseId, entry, previous));

    // what the publish step checks (channel head, last notice) is read while ReleaseActivated is appended
    const check = this.publishCheck(tenant, env, channel);
    check.catch(() => undefined); // used (and its failure reported) by ensurePublished
    const done = await this.append(this.event(ReleaseActivated, task, releaseId, 'activated', activated), releaseSeq);
    let stored = activated;
    if (done.duplicate) {
      const again = await this.readRelease(tenant, releaseId);
      if (again.state.status !== 'activated') throw new KoaRefusal('INTERNAL', `release ${releaseId}: ReleaseActivated acknowledged as duplicate but not found`);
      stored = again.state.activated;
    }
    this.log.log({ msg: 'release activated', tenant, caseId: request.caseId, releaseId, env, channel, version: entry.version, packDigest: request.pack.digest, kid, keyEnv });
    return { outcome: 'activated', releaseId, version: stored.version, resumed: false, notice: await this.ensurePublished(tenant, stored, check) };
  }

  /** Signs the notice of `entry` with the environment's release key: the data of `ReleaseActivated`. */
  private async signActivation(request: ReleaseRequest, releaseId: string, entry: ChannelEntry, previous: ChannelEntry | undefined): Promise<SignedActivation> {
    const { tenant, env, channel } = request;
    const { env: keyEnv, signer } = await this.keys.signerFor(env);
    const now = this.clock.now();
    const iat = Math.floor(now.getTime() / 1000);
    const exp = iat + this.settings.RELEASE_NOTICE_TTL_SECONDS;
    const claims: ReleaseNoticeClaims = {
      iss: 'koa:konnaxion-release',
      tenant,
      env,
      channel,
      version: entry.version,
      releaseId,
      caseId: request.caseId,
      pack: { digest: request.pack.digest, size: request.pack.size },
      provenanceDigest: request.provenanceDigest,
      evidenceDigest: request.evidenceDigest,
      iat,
      exp,
    };
    const notice = await signReleaseNotice(signer, claims);
    const activated: ActivatedData = {
      releaseId,
      caseId: request.caseId,
      taskId: request.taskId,
      env,
      channel,
      version: entry.version,
      packDigest: request.pack.digest,
      packSize: request.pack.size,
      kid: signer.kid,
      expiresAt: new Date(exp * 1000).toISOString(),
      notice,
      ...(previous && { previous: { releaseId: previous.releaseId, version: previous.version, packDigest: previous.packDigest } }),
    };
    return { activated, kid: signer.kid, keyEnv };
  }

  /** The channel head and the last notice on the channel's subject (what publishing checks), read at once. */
  private publishCheck(tenant: string, env: string, channel: string): Promise<PublishCheck> {
    return Promise.all([this.readChannel(tenant, env, channel), this.messaging.lastMessage(STREAMS.releases.name, subjects.release(tenant, env, channel))]);
  }

  /**
   * Publishes the activated notice on `koa.release.<tenant>.<env>.<channel>` (KOA_RELEASES) if
   * this release is still the channel head and its notice is not already the last message there.
   * Guarded by the subject's last sequence so a slower, superseded publisher can never land after
   * a newer notice.
   */
  private async ensurePublished(tenant: string, a: ActivatedData, read?: Promise<PublishCheck>): Promise<'published' | 'already-published' | 'superseded'> {
    const subject = subjects.release(tenant, a.env, a.channel);
    for (let attempt = 1; ; attempt++) {
      const [channel, last] = await (attempt === 1 && read ? read : this.publishCheck(tenant, a.env, a.channel));
      if (channel.state.current?.releaseId !== a.releaseId) return 'superseded';
      if (last && Buffer.from(last.data).toString('utf8') === a.notice) return 'already-published';
      try {
        await this.messaging.publish(subject, utf8.encode(a.notice), {
          msgId: `${tenant}:${a.releaseId}`,
          expectedLastSubjectSequence: last?.seq ?? 0,
          headers: { 'Content-Type': 'application/jose', 'Koa-Release-Id': a.releaseId, 'Koa-Release-Version': String(a.version) },
        });
        return 'published';
      } catch (e) {
        if (e instanceof ConcurrencyConflict && attempt < MAX_CONCURRENCY_ATTEMPTS) {
          await backoff(attempt);
          continue;
        }
        throw e;
      }
    }
  }

  /** Reads everything the checks look at. Infrastructure failures throw (retryable); missing facts do not. */
  private async gatherFacts(request: ReleaseRequest, working: () => void): Promise<ReleaseFacts> {
    const [caseAgg, buildAgg, storedPack, signingKey] = await Promise.all([
      this.messaging.readAggregate(request.tenant, 'case', request.caseId),
      this.messaging.readAggregate(request.tenant, 'build', request.buildId),
      this.measurePack(request.tenant, request.pack, working),
      this.keys.signerFor(request.env).then(
        ({ env, signer }) => ({ env, kid: signer.kid }),
        (e: unknown) => {
          if (isKoaRefusal(e) && !e.retryable) return undefined; // the environment-policy check refuses it, in order
          throw e;
        },
      ),
    ]);
    return {
      request,
      caseEvents: caseAgg.events,
      buildEvents: buildAgg.events,
      storedPack,
      trustedBuilders: this.settings.TRUSTED_BUILDERS,
      policy: this.policy,
      signingKey,
    };
  }

  /**
   * sha256 and size of the stored pack, streamed (bounded by PACK_DOWNLOAD_MAX_BYTES + 1), and — when
   * they are the requested ones — the full structure check of those same bytes ({@link checkStructure}).
   * The bytes are kept while streaming for that check, in one buffer of the requested size
   * (allocated on the first chunk; not kept beyond the pack bound, nor once more bytes than
   * requested arrive — `pack-bytes` refuses those): one copy in memory, never a second one.
   */
  private async measurePack(tenant: string, pack: ReleaseRequest['pack'], working: () => void): Promise<StoredPackMeasurement | undefined> {
    const { digest } = pack;
    const store = await this.messaging.blobs(OBJECT_STORES.packs.bucket);
    const stream = await store.getStream(objectNameFor(tenant, digest));
    if (!stream) return undefined;
    const hash = createHash('sha256');
    let size = 0;
    const keep = pack.size <= this.packBound();
    let kept: Buffer | undefined;
    const reader = stream.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > this.settings.PACK_DOWNLOAD_MAX_BYTES) {
          // no need to hash further: the size can no longer be a valid one
          return { digest: sha256Digest(`oversize:${digest}`), size };
        }
        hash.update(value);
        if (keep && size <= pack.size) {
          kept ??= Buffer.allocUnsafe(pack.size);
          kept.set(value, size - value.byteLength);
        }
        working();
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
    const measured = `sha256:${hash.digest('hex')}`;
    // not the requested bytes: `pack-bytes` refuses; the structure of other bytes is not looked at
    if (measured !== digest || size !== pack.size) return { digest: measured, size };
    const bytes = kept ?? new Uint8Array(0);
    const structure = this.checkStructure(keep ? bytes : undefined, size, measured as Digest, working);
    // small valid packs are also kept, for the consumers' downloads right after the notice
    if (keep && structure.ok && size <= RECENT_PACK_MAX_BYTES) this.recent?.put(tenant, digest, bytes, measured);
    return { digest: measured, size, structure };
  }

  /**
   * The full koa-pack/2 check of the stored bytes (`decodePack` in its DEFAULT mode: archive,
   * manifest, part digests, evidence and every entity line — docs/pack-format.md §7), as a fact.
   * Runtime consumers defer the per-line checks to first use; the release service does not, so a
   * pack with a bad line is refused before a notice is ever signed for it. CPU-bound and
   * synchronous (bounded by the pack bound); `working()` is called before and after.
   */
  private checkStructure(bytes: Uint8Array | undefined, size: number, digest: Digest, working: () => void): PackStructureFact {
    const bound = this.packBound();
    if (!bytes) return { ok: false, code: 'PACK_FORMAT_INVALID', detail: `pack is ${size} bytes, above the bound of ${bound}` };
    working();
    try {
      // `digest` was computed over exactly these bytes just above (saves a second hash; every part is still hashed)
      const decoded = decodePack(bytes, { maxBytes: bound, digest });
      return { ok: true, entities: decoded.entityCount };
    } catch (e) {
      if (isKoaRefusal(e)) return { ok: false, code: e.code, detail: e.message };
      return { ok: false, code: 'PACK_FORMAT_INVALID', detail: `could not be decoded: ${(e as Error)?.message ?? String(e)}` };
    } finally {
      working();
    }
  }

  /** The largest pack that can be valid: the pack format's bound, or the download bound if smaller. */
  private packBound(): number {
    return Math.min(PACK_MAX_BYTES_DEFAULT, this.settings.PACK_DOWNLOAD_MAX_BYTES);
  }

  private async readRelease(tenant: string, releaseId: string): Promise<{ state: ReleaseState; lastSequence: number }> {
    const { events, lastSequence } = await this.messaging.readAggregate(tenant, 'release', releaseId);
    return { state: foldRelease(events.filter(isReleaseEvent)), lastSequence };
  }

  private async readChannel(tenant: string, env: string, channel: string): Promise<ChannelRead> {
    const { events, lastSequence } = await this.channelLog.read(tenant, 'channel', channelAggregateId(env, channel));
    return { state: foldChannel(events.filter(isChannelAdvanced)), lastSequence, events };
  }

  private async append(event: AnyKoaEvent, expectedLastSubjectSequence: number): Promise<{ seq: number; duplicate: boolean }> {
    const [ack] = await this.messaging.append([event as KoaEvent], { expectedLastSubjectSequence });
    return ack;
  }

  private event<D extends typeof ReleaseVerified | typeof ReleaseRefused | typeof ReleaseActivated | typeof ChannelAdvanced>(
    def: D,
    task: TaskRequested,
    aggregateId: string,
    step: 'verified' | 'refused' | 'advanced' | 'activated',
    data: Parameters<typeof createEvent<D>>[1]['data'],
    releaseId: string = aggregateId,
  ): AnyKoaEvent {
    return createEvent(def, {
      id: releaseEventId(task.tenantid, releaseId, step),
      time: this.clock.now().toISOString(),
      source: SOURCE,
      tenant: task.tenantid,
      aggregateId,
      actor: ACTOR,
      data,
      correlationId: task.data.caseId,
      causationId: task.id,
    }) as AnyKoaEvent;
  }
}

/** The entry this release holds on the channel after advancing (found in the log, or just appended by this run). */
function positionOf(state: ChannelState, advance: ReturnType<typeof decideAdvance>, releaseId: string): { entry: ChannelEntry; previous: ChannelEntry | undefined } {
  const entry = channelEntryOf(state, releaseId);
  if (entry) return { entry, previous: channelEntryBefore(state, entry.version) };
  return { entry: advance.entry, previous: advance.previous };
}
