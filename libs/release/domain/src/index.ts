/**
 * @koa/release/domain — pure pre-activation checks, the release decision, and the channel and
 * release aggregates of konnaxion-release. No I/O, no clock, no randomness: facts, time and ids
 * arrive as arguments. See README.md and docs/release-service.md.
 */
export type { ReleaseRequest, StoredPackMeasurement, PackStructureFact, EnvironmentPolicy, SigningKeyFact, ReleaseFacts } from './facts';
export {
  CHECK_NAMES,
  RELEASE_CHECKS,
  checkCaseRequested,
  checkBuildSucceeded,
  checkProvenance,
  checkPackBytes,
  checkPackStructure,
  checkEnvironmentPolicy,
  type CheckName,
  type CheckResult,
  type ReleaseCheck,
} from './checks';
export { decideRelease, type ReleaseDecision } from './decide';
export { releaseIdFor } from './release-id';
export {
  initialChannelState,
  evolveChannel,
  foldChannel,
  channelEntryOf,
  channelEntryBefore,
  decideAdvance,
  type ChannelState,
  type ChannelEntry,
  type ChannelAdvancedEvent,
} from './channel';
export {
  initialReleaseState,
  evolveRelease,
  foldRelease,
  isReleaseEvent,
  isChannelAdvanced,
  type ReleaseState,
  type ReleaseEvent,
  type ReleaseVerifiedEvent,
  type ReleaseRefusedEvent,
  type ReleaseActivatedEvent,
} from './release';
