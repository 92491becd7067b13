/**
 * The refusal-code catalog: every "no" the system says, with a stable code.
 *
 * Codes are part of the external contract (docs/refusal-codes.md is generated from this table):
 * never rename or reuse one; add new ones. `retryable` says whether the same input could succeed
 * later without change (a transient condition), which drives nak-vs-term in consumers and the
 * HTTP status operators see.
 */
export const REFUSALS = {
  // ---- envelope and schema --------------------------------------------------------------
  ENVELOPE_MALFORMED: { http: 400, retryable: false, description: 'The message is not a JSON CloudEvents 1.0 structured envelope, or a required envelope attribute is missing or malformed.' },
  EVENT_TYPE_UNKNOWN: { http: 400, retryable: false, description: 'The event `type` is not in the event catalog.' },
  EVENT_DATA_INVALID: { http: 400, retryable: false, description: "The event's `data` does not match the schema of its type." },
  EVENT_SUBJECT_MISMATCH: { http: 400, retryable: false, description: 'The NATS subject, the envelope `subject` and `tenantid` do not agree.' },
  SUBJECT_TOKEN_INVALID: { http: 400, retryable: false, description: 'A subject token (tenant, source, channel, environment, id) is empty, too long, or has characters outside [A-Za-z0-9_-].' },
  // ---- messaging ------------------------------------------------------------------------
  CONCURRENCY_CONFLICT: { http: 409, retryable: true, description: 'An append expected a different last sequence on the aggregate subject: someone else wrote first. Reload and decide again.' },
  HANDLER_FAILED: { http: 500, retryable: true, description: 'An event handler failed with a transient error; the delivery is retried with backoff.' },
  HANDLER_REJECTED: { http: 422, retryable: false, description: 'An event handler refused the event permanently; it was dead-lettered.' },
  MAX_DELIVER_EXCEEDED: { http: 500, retryable: false, description: 'A message failed on every allowed delivery attempt and was dead-lettered.' },
  BROKER_UNAVAILABLE: { http: 503, retryable: true, description: 'NATS JetStream could not be reached or did not answer in time.' },
  DATABASE_UNAVAILABLE: { http: 503, retryable: true, description: 'PostgreSQL could not be reached or did not answer in time.' },
  // ---- configuration --------------------------------------------------------------------
  CONFIG_INVALID: { http: 500, retryable: false, description: 'A configuration variable is missing or malformed; the process refuses to start.' },
  // ---- ingest ---------------------------------------------------------------------------
  INGEST_EMPTY: { http: 400, retryable: false, description: 'The ingested content has zero bytes.' },
  INGEST_TOO_LARGE: { http: 413, retryable: false, description: 'The ingested content exceeds the configured maximum size.' },
  INGEST_MALFORMED: { http: 400, retryable: false, description: 'The ingest request or message is malformed (missing tenant/source/metadata, bad encoding, unknown media type).' },
  INGEST_OBJECT_NOT_FOUND: { http: 404, retryable: false, description: 'An ingest message referenced an object-store entry that does not exist.' },
  SNAPSHOT_NOT_FOUND: { http: 404, retryable: false, description: 'A snapshot digest named in a request is not in the snapshot store for this tenant.' },
  SNAPSHOT_SET_MISMATCH: { http: 422, retryable: false, description: "A build task's snapshot digests do not hash to the snapshot-set root it pins: the input is not the sealed set." },
  SNAPSHOT_SET_EMPTY: { http: 400, retryable: false, description: 'A snapshot set must name at least one snapshot.' },
  // ---- governed work --------------------------------------------------------------------
  TRIGGER_INVALID: { http: 400, retryable: false, description: 'A trigger request is malformed (missing actor, reason, idempotency key, target).' },
  IDEMPOTENCY_KEY_REUSED: { http: 409, retryable: false, description: 'The idempotency key was already used for a different request.' },
  CASE_NOT_FOUND: { http: 404, retryable: false, description: 'No Case with that id exists for this tenant.' },
  CASE_ALREADY_CLOSED: { http: 409, retryable: false, description: 'The Case is closed; it accepts no further commands.' },
  CASE_COMMAND_INVALID: { http: 409, retryable: false, description: 'The command does not apply to the Case in its current state.' },
  // ---- pipeline -------------------------------------------------------------------------
  EXTRACT_UNSUPPORTED_MEDIA: { http: 422, retryable: false, description: 'A snapshot has a media type the extractor does not understand.' },
  EXTRACT_PARSE_FAILED: { http: 422, retryable: false, description: 'A snapshot could not be parsed as its declared media type.' },
  RESOLVE_CONFLICT: { http: 422, retryable: false, description: 'Two inputs define the same entity with conflicting content and the conflict policy refuses it.' },
  VALIDATION_FAILED: { http: 422, retryable: false, description: 'At least one validation rule failed; the build stops and nothing is compiled.' },
  BUILD_INPUT_MISSING: { http: 422, retryable: false, description: 'A snapshot of the pinned set is missing from the snapshot store or its bytes do not match its digest.' },
  // ---- release and trust (TUF-style verification; the same codes in the service and the runtime client)
  RELEASE_PACK_DIGEST_MISMATCH: { http: 422, retryable: false, description: "The pack's bytes do not hash to the digest the release names." },
  RELEASE_PACK_SIZE_MISMATCH: { http: 422, retryable: false, description: "The pack's size differs from the size the release names, or exceeds the download bound." },
  RELEASE_BUILD_NOT_PASSED: { http: 422, retryable: false, description: 'The build behind the pack did not succeed with passing validation evidence.' },
  RELEASE_NOT_REQUESTED: { http: 403, retryable: false, description: 'No Case asked for this release (tenant, environment, channel, pack).' },
  RELEASE_PROVENANCE_INVALID: { http: 422, retryable: false, description: 'The build provenance is missing, does not match the pack, or is not from a trusted builder.' },
  RELEASE_POLICY_DENIED: { http: 403, retryable: false, description: 'The environment policy forbids this release (e.g. unknown environment, or a signing key that belongs to another environment).' },
  NOTICE_MALFORMED: { http: 400, retryable: false, description: 'The release notice is not a well-formed compact JWS with the required claims.' },
  NOTICE_ALG_NOT_ALLOWED: { http: 401, retryable: false, description: "The notice's signature algorithm is not in the allowlist." },
  NOTICE_KEY_UNKNOWN: { http: 401, retryable: false, description: "The notice's `kid` is not a release key of the pinned trust root for this environment." },
  NOTICE_SIGNATURE_INVALID: { http: 401, retryable: false, description: 'The notice signature does not verify with the key named by `kid`.' },
  NOTICE_SCOPE_MISMATCH: { http: 403, retryable: false, description: "The notice's tenant, environment or channel is not the consumer's." },
  NOTICE_VERSION_ROLLBACK: { http: 409, retryable: false, description: 'The notice version is not greater than the last trusted version (rollback or replay).' },
  NOTICE_EXPIRED: { http: 401, retryable: false, description: 'The notice has expired against the verifier clock (freeze protection).' },
  TRUST_ROOT_INVALID: { http: 500, retryable: false, description: 'The trust root document is malformed, expired, or not signed by its root keys.' },
  CHANNEL_NOT_FOUND: { http: 404, retryable: false, description: 'No release has been activated on that channel.' },
  PACK_NOT_FOUND: { http: 404, retryable: false, description: 'No pack with that digest is stored.' },
  // ---- runtime consumer -----------------------------------------------------------------
  CONSUMER_NO_ACTIVE_PACK: { http: 503, retryable: true, description: 'The runtime consumer has not yet activated any verified pack.' },
  CONSUMER_DOWNLOAD_FAILED: { http: 503, retryable: true, description: 'The runtime consumer could not download the pack named by a notice.' },
  PACK_FORMAT_INVALID: { http: 422, retryable: false, description: 'The pack is not a well-formed koa-pack archive, or a part does not match its manifest digest.' },
  // ---- audit ----------------------------------------------------------------------------
  LEDGER_CHAIN_BROKEN: { http: 500, retryable: false, description: 'A stored ledger entry does not hash to the chain: the ledger was tampered with.' },
  RELEASE_NOT_FOUND: { http: 404, retryable: false, description: 'No release with that id is known to the ledger.' },
  // ---- HTTP edges -----------------------------------------------------------------------
  REQUEST_INVALID: { http: 400, retryable: false, description: 'The HTTP request body or parameters are malformed.' },
  NOT_FOUND: { http: 404, retryable: false, description: 'No such resource.' },
  INTERNAL: { http: 500, retryable: true, description: 'An unexpected internal error; details are in the service log under the trace id.' },
} as const satisfies Record<string, { http: number; retryable: boolean; description: string }>;

export type RefusalCode = keyof typeof REFUSALS;

export const isRefusalCode = (value: unknown): value is RefusalCode =>
  typeof value === 'string' && Object.prototype.hasOwnProperty.call(REFUSALS, value);

/**
 * The one error type for a refusal. `code` is from the catalog; `message` names what was wrong
 * (the field, the value); `details` is structured context safe to put in an event or a response.
 */
export class KoaRefusal extends Error {
  override readonly name = 'KoaRefusal';
  constructor(
    readonly code: RefusalCode,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  get retryable(): boolean {
    return REFUSALS[this.code].retryable;
  }
  get httpStatus(): number {
    return REFUSALS[this.code].http;
  }
  toJSON(): { code: RefusalCode; message: string; details: Readonly<Record<string, unknown>> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export const isKoaRefusal = (e: unknown): e is KoaRefusal => e instanceof KoaRefusal;
