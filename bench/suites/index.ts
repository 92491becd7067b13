import type { Suite } from '../harness';
import { consumerThroughput } from './consumer-throughput';
import { eventAppend } from './event-append';

/** Every suite, in the order they run. */
export const SUITES: readonly Suite[] = [eventAppend, consumerThroughput];
