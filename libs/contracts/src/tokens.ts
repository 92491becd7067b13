import { KoaRefusal } from './refusals';

/** Subject tokens: letters, digits, `_` and `-`, 1..64 characters. Never escaped, never a wildcard. */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Environments are lower-case and have no `_`, so that `<env>_<channel>` is an unambiguous id. */
export const ENV_PATTERN = /^[a-z][a-z0-9]{0,15}$/;

export type TokenKind = 'tenant' | 'source' | 'channel' | 'env' | 'aggregate' | 'id' | 'consumer';

/** Returns the token unchanged, or throws SUBJECT_TOKEN_INVALID naming which token and value. */
export function assertToken(kind: TokenKind, value: unknown): string {
  const pattern = kind === 'env' ? ENV_PATTERN : TOKEN_PATTERN;
  if (typeof value !== 'string' || !pattern.test(value)) {
    const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) : typeof value;
    throw new KoaRefusal('SUBJECT_TOKEN_INVALID', `${kind} token ${shown} is invalid: expected ${pattern.source}`, { token: kind });
  }
  return value;
}

export const isToken = (kind: TokenKind, value: unknown): value is string => {
  const pattern = kind === 'env' ? ENV_PATTERN : TOKEN_PATTERN;
  return typeof value === 'string' && pattern.test(value);
};

/** The channel aggregate id: `<env>_<channel>` (env has no `_`, so the split is unambiguous). */
export const channelAggregateId = (env: string, channel: string): string =>
  `${assertToken('env', env)}_${assertToken('channel', channel)}`;
