import { KoaRefusal, type Digest, type EventByType } from '@koa/contracts';

export type ChannelAdvancedEvent = EventByType<'io.koa.release.channel.advanced.v1'>;

/** One position of a channel: which release it pointed to at which version. */
export interface ChannelEntry {
  readonly version: number;
  readonly releaseId: string;
  readonly packDigest: Digest;
}

/**
 * The channel aggregate (`koa.evt.<tenant>.channel.<env>_<channel>`), folded from its
 * `ChannelAdvanced` events. `version` 0 means no release was ever activated. `history` lists
 * every position, oldest first (for idempotency on redelivery and for rollback targets).
 */
export interface ChannelState {
  readonly version: number;
  readonly current: ChannelEntry | undefined;
  readonly history: readonly ChannelEntry[];
}

export const initialChannelState = (): ChannelState => ({ version: 0, current: undefined, history: [] });

/**
 * Applies one `ChannelAdvanced`. Versions are strictly increasing by one; anything else in the
 * log is corruption and is refused (EVENT_DATA_INVALID) rather than silently folded.
 */
export function evolveChannel(state: ChannelState, event: ChannelAdvancedEvent): ChannelState {
  switch (event.type) {
    case 'io.koa.release.channel.advanced.v1': {
      const { version, releaseId, packDigest } = event.data;
      if (version !== state.version + 1) {
        throw new KoaRefusal('EVENT_DATA_INVALID', `channel ${event.subject} advanced to version ${version} after version ${state.version}: versions must increase by one`, { version });
      }
      const entry: ChannelEntry = { version, releaseId, packDigest };
      return { version, current: entry, history: [...state.history, entry] };
    }
    default: {
      const _exhaustive: never = event.type;
      return state;
    }
  }
}

/** Folds a channel's history (events of other types are refused by the type). */
export const foldChannel = (events: readonly ChannelAdvancedEvent[]): ChannelState => events.reduce(evolveChannel, initialChannelState());

/** The entry this release put on the channel, if it ever advanced it (idempotency on redelivery). */
export const channelEntryOf = (state: ChannelState, releaseId: string): ChannelEntry | undefined =>
  state.history.find((e) => e.releaseId === releaseId);

/** The position just before `version` (the `previous` of a ReleaseActivated), if any. */
export const channelEntryBefore = (state: ChannelState, version: number): ChannelEntry | undefined =>
  state.history.find((e) => e.version === version - 1);

/**
 * Decides the next channel position for a verified release: version = last + 1. If this release
 * already advanced the channel, returns that entry with `alreadyAdvanced: true` (nothing to append).
 */
export function decideAdvance(
  state: ChannelState,
  release: { readonly releaseId: string; readonly packDigest: Digest },
): { readonly alreadyAdvanced: boolean; readonly entry: ChannelEntry; readonly previous: ChannelEntry | undefined } {
  const existing = channelEntryOf(state, release.releaseId);
  if (existing) return { alreadyAdvanced: true, entry: existing, previous: channelEntryBefore(state, existing.version) };
  return {
    alreadyAdvanced: false,
    entry: { version: state.version + 1, releaseId: release.releaseId, packDigest: release.packDigest },
    previous: state.current,
  };
}
