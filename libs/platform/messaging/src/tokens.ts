/** Nest injection token for the `Messaging` instance: `@Inject(MESSAGING) messaging: Messaging`. */
export const MESSAGING = Symbol('MESSAGING');
