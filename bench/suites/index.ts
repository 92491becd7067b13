import type { Suite } from '../harness';
import { compile } from './compile';
import { consumerThroughput } from './consumer-throughput';
import { consumerVerify } from './consumer-verify';
import { eventAppend } from './event-append';
import { fleetFanout } from './fleet-fanout';
import { ingestLarge, ingestSmall } from './ingest';
import { ledgerRebuild } from './ledger-rebuild';
import { liveProjection } from './live-projection';
import { localQuery } from './local-query';
import { triggerActivation } from './trigger-activation';

/** Every suite, in the order they run. */
export const SUITES: readonly Suite[] = [eventAppend, consumerThroughput, ledgerRebuild, liveProjection, compile, consumerVerify, localQuery, fleetFanout, ingestSmall, ingestLarge, triggerActivation];
