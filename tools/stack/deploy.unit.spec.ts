/**
 * Consistency of deploy/ with the code: every service has a Deployment that runs its real entry
 * point with probes on the real health endpoints, a grace period longer than the in-process
 * shutdown deadline, and its secrets from the Secret; the NATS configs keep the required limits.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { STREAMS } from '@koa/contracts';
import { SHUTDOWN_TIMEOUT_MS } from '@koa/platform/service';
import { REPO_ROOT, SERVICES, SERVICE_NAMES } from './stack';

type Doc = { kind: string; metadata: { name: string }; spec: Record<string, unknown>; data?: Record<string, string> };
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- walking untyped manifests
type Any = any;

const load = (file: string): Doc[] => parseAllDocuments(readFileSync(join(REPO_ROOT, 'deploy', file), 'utf8')).map((d) => d.toJS() as Doc).filter(Boolean);

describe('deploy/', () => {
  const services = load('k8s/services.yaml');
  const nats = load('k8s/nats.yaml');

  it.each(SERVICE_NAMES)('%s: Deployment runs the real entry point with the health probes and secrets', (name) => {
    const dep = services.find((d) => d.kind === 'Deployment' && d.metadata.name === name) as Any;
    expect(dep).toBeDefined();
    const pod = dep.spec.template.spec;
    const c = pod.containers[0];
    expect(c.args).toEqual([SERVICES[name].main]);
    expect(existsSync(join(REPO_ROOT, c.args[0]))).toBe(true);
    const env = Object.fromEntries(c.env.map((e: Any) => [e.name, e]));
    expect(Number(env.HTTP_PORT.value)).toBe(c.ports[0].containerPort);
    expect(env.NATS_URL.valueFrom.secretKeyRef).toEqual({ name: 'koa-secrets', key: 'NATS_URL' });
    expect(env.DATABASE_URL.valueFrom.secretKeyRef).toEqual({ name: 'koa-secrets', key: 'DATABASE_URL' });
    expect(env.JETSTREAM_REPLICAS.value).toBe('3');
    expect(c.livenessProbe.httpGet.path).toBe('/health/live');
    expect(c.readinessProbe.httpGet.path).toBe('/health/ready');
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(SHUTDOWN_TIMEOUT_MS);
    expect(services.some((d) => d.kind === 'Service' && d.metadata.name === name)).toBe(true);
  });

  it('the cluster NATS config fsyncs always and keeps the local limits', () => {
    const cm = nats.find((d) => d.kind === 'ConfigMap') as Doc;
    const cluster = cm.data?.['nats-server.conf'] ?? '';
    const local = readFileSync(join(REPO_ROOT, 'deploy/nats/nats-server.conf'), 'utf8');
    expect(cluster).toMatch(/^\s*sync_interval: always/m);
    expect(local).toMatch(/^\s*# sync_interval: always/m); // 2.9 (local) does not know it
    for (const limit of ['max_payload: 8MB', 'max_memory_store: 256MB', 'max_file_store: 20GB']) {
      expect(cluster).toContain(limit);
      expect(local).toContain(limit);
    }
    const sts = nats.find((d) => d.kind === 'StatefulSet') as Any;
    expect(sts.spec.replicas).toBe(3);
  });

  it('service users may not delete, purge or erase messages of any KOA_ stream (the stream itself is only protected by permissions)', () => {
    const conf = (nats.find((d) => d.kind === 'ConfigMap') as Any).data['nats-server.conf'] as string;
    const serviceUser = conf.slice(conf.indexOf('user: koa-service'), conf.indexOf('] } } }', conf.indexOf('user: koa-service')));
    for (const stream of Object.values(STREAMS)) {
      for (const op of ['DELETE', 'PURGE', 'MSG.DELETE']) expect(serviceUser).toContain(`"$JS.API.STREAM.${op}.${stream.name}"`);
    }
  });

  it('the image runs the entry points with @swc-node/register as PID 1', () => {
    const dockerfile = readFileSync(join(REPO_ROOT, 'deploy/docker/Dockerfile'), 'utf8');
    expect(dockerfile).toContain('ENTRYPOINT ["node", "-r", "@swc-node/register"]');
    const cmd = /CMD \["([^"]+)"\]/.exec(dockerfile)?.[1] ?? '';
    expect(existsSync(join(REPO_ROOT, cmd))).toBe(true);
  });
});
