/**
 * A realistic event history for the ledger suites: per Case, the story the services tell —
 * opened ⇒ build requested ⇒ build started ⇒ stage ⇒ evidence ⇒ pack compiled ⇒ task completed ⇒
 * release verified ⇒ activated ⇒ channel advanced ⇒ a consumer activated ⇒ closed — 12 events,
 * built with the real `createEvent` from the contract samples with per-Case ids.
 */
import { createEvent, EVENT_CATALOG, subjectOf, type CatalogEntry, type KoaEvent, type NewEvent } from '@koa/contracts';
import { SAMPLES } from '../../libs/contracts/src/__fixtures__/samples';

const STORY: readonly string[] = [
  'io.koa.orgo.case.opened.v1',
  'io.koa.orgo.task.requested.v1',
  'io.koa.pipeline.build.started.v1',
  'io.koa.pipeline.stage.completed.v1',
  'io.koa.pipeline.validation.recorded.v1',
  'io.koa.pipeline.pack.compiled.v1',
  'io.koa.orgo.task.completed.v1',
  'io.koa.release.release.verified.v1',
  'io.koa.release.release.activated.v1',
  'io.koa.release.channel.advanced.v1',
  'io.koa.runtime.consumer.activated.v1',
  'io.koa.orgo.case.closed.v1',
];
export const EVENTS_PER_CASE = STORY.length;

const templates = STORY.map((type) => {
  const def = EVENT_CATALOG.find((d) => d.type === type);
  const sample = SAMPLES[type as keyof typeof SAMPLES];
  if (!def || !sample) throw new Error(`story-events: no catalog entry or sample for ${type}`);
  return { def, json: JSON.stringify(sample) };
});

/** One stored message: the NATS subject and the exact bytes published. */
export interface StoryMessage {
  readonly subject: string;
  readonly bytes: Uint8Array;
  readonly msgId: string;
}

/** `cases × 12` events of tenant `tenant`, ids unique per `tag`. */
export function storyEvents(tenant: string, cases: number, tag: string): StoryMessage[] {
  const out: StoryMessage[] = [];
  const enc = new TextEncoder();
  for (let c = 0; c < cases; c++) {
    templates.forEach(({ def, json }, k) => {
      const sample = JSON.parse(
        json
          .replaceAll('b-task-1', `b-${tag}-${c}`)
          .replaceAll('r-task-2', `r-${tag}-${c}`)
          .replaceAll('r-task-0', `r-${tag}-${c}-prev`)
          .replaceAll('task-1', `tb-${tag}-${c}`)
          .replaceAll('task-2', `tr-${tag}-${c}`)
          .replaceAll('case-1', `case-${tag}-${c}`)
          .replaceAll('edge-7', `edge-${c % 50}`),
      ) as Pick<NewEvent<CatalogEntry>, 'aggregateId' | 'data'>;
      const event: KoaEvent = createEvent(def, {
        ...sample,
        id: `${tag}-${c}-${k}`,
        time: new Date(Date.UTC(2026, 0, 1) + c * 1000 + k).toISOString(),
        source: def.producer,
        tenant,
        actor: 'service:bench',
        correlationId: `case-${tag}-${c}`,
      } as NewEvent<CatalogEntry>);
      out.push({ subject: subjectOf(event), bytes: enc.encode(JSON.stringify(event)), msgId: `${event.source}#${event.id}` });
    });
  }
  return out;
}
