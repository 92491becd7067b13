/**
 * A small HTTP client for the whole chain, shared by the demo and the end-to-end suite so both
 * drive the services exactly as an operator or an external system would: over their public HTTP
 * APIs (docs/ingest.md, docs/governed-work.md, docs/release-service.md, docs/audit-ledger.md).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';

export interface ChainUrls {
  readonly ingest: string;
  readonly orgo: string;
  readonly release: string;
  readonly ledger: string;
}

/** An RFC 7807 problem answered by a service. */
export class ProblemError extends Error {
  constructor(readonly status: number, readonly problem: { code?: string; detail?: string; title?: string }) {
    super(`${status} ${problem.code ?? ''}: ${problem.detail ?? problem.title ?? ''}`);
  }
}

async function call<T>(url: string, init: RequestInit = {}): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await fetch(url, init);
  const text = await res.text();
  const body = (text ? JSON.parse(text) : undefined) as T;
  if (res.status >= 400) throw new ProblemError(res.status, (body ?? {}) as { code?: string });
  return { status: res.status, body, headers: res.headers };
}

const MEDIA_TYPES: Record<string, string> = {
  '.json': 'application/json',
  '.ndjson': 'application/x-ndjson',
  '.md': 'text/markdown',
  '.txt': 'text/plain',
};

export interface Uploaded {
  readonly file: string;
  readonly digest: string;
  readonly size: number;
  readonly duplicate: boolean;
}

export interface CaseView {
  readonly caseId: string;
  readonly status: 'open' | 'closed';
  readonly phase: string;
  readonly outcome?: 'succeeded' | 'failed';
  readonly code?: string;
  readonly message?: string;
  readonly tasks: ReadonlyArray<{ taskId: string; kind: 'build' | 'release'; status: string; ref?: string; code?: string }>;
}

export class ChainClient {
  constructor(readonly urls: ChainUrls, readonly actor = 'user:demo-operator') {}

  /** Uploads every sample document of `dir` (json, ndjson, md, txt) through the HTTP upload adapter. */
  async uploadDir(tenant: string, source: string, dir: string): Promise<Uploaded[]> {
    const files = readdirSync(dir)
      .filter((f) => MEDIA_TYPES[extname(f)])
      .sort();
    const out: Uploaded[] = [];
    for (const file of files) out.push(await this.upload(tenant, source, file, readFileSync(join(dir, file)), MEDIA_TYPES[extname(file)]));
    return out;
  }

  async upload(tenant: string, source: string, name: string, bytes: Uint8Array, mediaType: string): Promise<Uploaded> {
    const { body } = await call<{ digest: string; size: number; duplicate: boolean }>(`${this.urls.ingest}/v1/tenants/${tenant}/sources/${source}/snapshots`, {
      method: 'POST',
      headers: { 'content-type': mediaType, 'x-koa-actor': this.actor, 'x-koa-source-ref': name, 'x-koa-reason': 'demo sample upload' },
      body: bytes,
    });
    return { file: name, ...body };
  }

  async sealSet(tenant: string, digests: readonly string[], label: string): Promise<{ root: string; digests: string[] }> {
    const { body } = await call<{ root: string; digests: string[] }>(`${this.urls.ingest}/v1/tenants/${tenant}/snapshot-sets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-koa-actor': this.actor },
      body: JSON.stringify({ digests, label }),
    });
    return body;
  }

  async trigger(tenant: string, o: { snapshotSetRoot: string; env: string; channel: string; reason: string; idempotencyKey: string }): Promise<{ status: number; view: CaseView }> {
    const { status, body } = await call<CaseView>(`${this.urls.orgo}/v1/tenants/${tenant}/cases`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': o.idempotencyKey, 'x-koa-actor': this.actor, 'user-agent': 'koa-demo' },
      body: JSON.stringify({ snapshotSetRoot: o.snapshotSetRoot, env: o.env, channel: o.channel, reason: o.reason }),
    });
    return { status, view: body };
  }

  async getCase(tenant: string, caseId: string): Promise<CaseView> {
    return (await call<CaseView>(`${this.urls.orgo}/v1/tenants/${tenant}/cases/${caseId}`)).body;
  }

  /** Polls the Case until it is closed (bounded). */
  async waitClosed(tenant: string, caseId: string, timeoutMs = 60_000): Promise<CaseView> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const view = await this.getCase(tenant, caseId);
      if (view.status === 'closed') return view;
      if (Date.now() > deadline) throw new Error(`case ${caseId} still ${view.phase} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  releaseIdOf(view: CaseView): string | undefined {
    return view.tasks.find((t) => t.kind === 'release')?.ref;
  }

  async channel(tenant: string, env: string, channel: string): Promise<{ version: number; releaseId: string; packDigest: string; notice: string }> {
    return (await call<{ version: number; releaseId: string; packDigest: string; notice: string }>(`${this.urls.release}/v1/tenants/${tenant}/channels/${env}/${channel}`)).body;
  }

  /** The signed trust root of an environment, as text (what a consumer pins). */
  async trustRoot(env: string): Promise<string> {
    const res = await fetch(`${this.urls.release}/v1/trust/${env}`);
    if (res.status !== 200) throw new ProblemError(res.status, (await res.json()) as { code?: string });
    return res.text();
  }

  async whatHappened(tenant: string, releaseId: string): Promise<Record<string, unknown>> {
    return (await call<Record<string, unknown>>(`${this.urls.ledger}/v1/tenants/${tenant}/releases/${releaseId}/what-happened`)).body;
  }

  async rebuildProjections(): Promise<Record<string, unknown>> {
    return (await call<Record<string, unknown>>(`${this.urls.ledger}/v1/admin/projections/rebuild`, { method: 'POST' })).body;
  }

  async verifyLedger(): Promise<Record<string, unknown>> {
    return (await call<Record<string, unknown>>(`${this.urls.ledger}/v1/ledger/verify`)).body;
  }
}
