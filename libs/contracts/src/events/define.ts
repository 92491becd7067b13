import type { z } from 'zod';
import type { KoaEvent } from '../envelope';
import type { AggregateKind } from '../subjects';
import type { ServiceName } from '../schema';

/** One entry of the event catalog: the type string, its aggregate, its producer and its data schema. */
export interface EventDefinition<T extends string = string, S extends z.ZodType = z.ZodType> {
  readonly type: T;
  readonly aggregate: AggregateKind;
  readonly producer: ServiceName;
  readonly summary: string;
  readonly data: S;
}

export function defineEvent<const T extends string, S extends z.ZodType>(def: EventDefinition<T, S>): EventDefinition<T, S> {
  return Object.freeze(def);
}

/** The TypeScript type of an event, derived from its schema so the two cannot drift. */
export type EventOf<D> = D extends EventDefinition<infer T, infer S> ? KoaEvent<T, z.output<S>> : never;
export type DataOf<D> = D extends EventDefinition<string, infer S> ? z.output<S> : never;
