/** Test-only entry (`@koa/contracts/testing`): a valid sample of every catalog event's data. */
export { SAMPLES } from './__fixtures__/samples';
