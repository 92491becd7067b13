import { KoaRefusal, type EventByType } from '@koa/contracts';

export type ReleaseVerifiedEvent = EventByType<'io.koa.release.release.verified.v1'>;
export type ReleaseRefusedEvent = EventByType<'io.koa.release.release.refused.v1'>;
export type ReleaseActivatedEvent = EventByType<'io.koa.release.release.activated.v1'>;
export type ReleaseEvent = ReleaseVerifiedEvent | ReleaseRefusedEvent | ReleaseActivatedEvent;

/**
 * The release aggregate (`koa.evt.<tenant>.release.<releaseId>`):
 *
 *   none ──ReleaseVerified──▶ verified ──ReleaseActivated──▶ activated
 *     └───ReleaseRefused───▶ refused
 *
 * `refused` and `activated` are final. The service reads this state first on every delivery, so
 * a redelivered task resumes where a crash left it and never appends an event twice.
 */
export type ReleaseState =
  | { readonly status: 'none' }
  | { readonly status: 'verified'; readonly verified: ReleaseVerifiedEvent['data'] }
  | { readonly status: 'refused'; readonly refused: ReleaseRefusedEvent['data'] }
  | { readonly status: 'activated'; readonly verified: ReleaseVerifiedEvent['data']; readonly activated: ReleaseActivatedEvent['data'] };

export const initialReleaseState = (): ReleaseState => ({ status: 'none' });

const outOfOrder = (event: ReleaseEvent, state: ReleaseState): KoaRefusal =>
  new KoaRefusal('EVENT_DATA_INVALID', `release ${event.subject}: ${event.type} cannot follow state ${state.status}`, { type: event.type, status: state.status });

/** Applies one release event; an impossible transition in the log is refused, never folded. */
export function evolveRelease(state: ReleaseState, event: ReleaseEvent): ReleaseState {
  switch (event.type) {
    case 'io.koa.release.release.verified.v1':
      if (state.status !== 'none') throw outOfOrder(event, state);
      return { status: 'verified', verified: event.data };
    case 'io.koa.release.release.refused.v1':
      if (state.status !== 'none') throw outOfOrder(event, state);
      return { status: 'refused', refused: event.data };
    case 'io.koa.release.release.activated.v1':
      if (state.status !== 'verified') throw outOfOrder(event, state);
      return { status: 'activated', verified: state.verified, activated: event.data };
    default: {
      const _exhaustive: never = event;
      return state;
    }
  }
}

export const foldRelease = (events: readonly ReleaseEvent[]): ReleaseState => events.reduce(evolveRelease, initialReleaseState());

/** True for the event types of the release aggregate (to narrow a mixed history). */
export const isReleaseEvent = (e: { type: string }): e is ReleaseEvent =>
  e.type === 'io.koa.release.release.verified.v1' || e.type === 'io.koa.release.release.refused.v1' || e.type === 'io.koa.release.release.activated.v1';

/** True for `ChannelAdvanced`. */
export const isChannelAdvanced = (e: { type: string }): e is EventByType<'io.koa.release.channel.advanced.v1'> =>
  e.type === 'io.koa.release.channel.advanced.v1';
