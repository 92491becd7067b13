import { DIGEST_PATTERN, TOKEN_PATTERN, canonicalJson } from '@koa/contracts';
import { ATTRIBUTE_KEY_PATTERN, type PackEntity, type PackEntityInput } from './schema';
import { codeUnitCompare } from './terms';

/*
 * Hot-path helpers of encode/decode. Each one is an exact shortcut of the general rule it stands
 * for (`canonicalJson` of @koa/contracts, `PackEntitySchema` of ./schema); where the shortcut does
 * not apply, callers fall back to the general rule, so accepted and refused inputs are unchanged.
 */

const isPlain = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

function strictlySorted(keys: readonly string[]): boolean {
  for (let i = 1; i < keys.length; i++) if (!(keys[i - 1] < keys[i])) return false;
  return true;
}

/**
 * Plain JSON data whose objects all have their keys in strictly ascending code-unit order: only
 * strings, finite numbers, booleans, null, arrays without `undefined`, and plain objects (an
 * `undefined` member is allowed: both serialisers omit it). For such a value `JSON.stringify` and
 * canonical JSON are the same text.
 */
function isSortedPlainJson(v: unknown): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v);
    case 'object': {
      if (v === null) return true;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) if (v[i] === undefined || !isSortedPlainJson(v[i])) return false;
        return true;
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) return false;
      const keys = Object.keys(v);
      if (!strictlySorted(keys)) return false;
      for (const k of keys) {
        const x = (v as Record<string, unknown>)[k];
        if (x !== undefined && !isSortedPlainJson(x)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/**
 * RFC 8785 canonical JSON, equal to `canonicalJson` of @koa/contracts (same output, same TypeError
 * for non-finite numbers, `undefined` in arrays, non-plain objects and unsupported types). Data
 * built with its keys in order (e.g. the evidence report) is serialised by the native
 * `JSON.stringify`; anything else by a serialiser that sorts only the objects that need it.
 */
export function canonicalJsonFast(value: unknown): string {
  return isSortedPlainJson(value) ? JSON.stringify(value) : canonicalSlow(value);
}

function canonicalSlow(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: non-finite number ${value}`);
      return JSON.stringify(value);
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let s = '[';
        for (let i = 0; i < value.length; i++) {
          const v: unknown = value[i];
          if (v === undefined) throw new TypeError('canonicalJson: undefined in array');
          s += i === 0 ? canonicalSlow(v) : `,${canonicalSlow(v)}`;
        }
        return `${s}]`;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) throw new TypeError('canonicalJson: not a plain object');
      const keys = Object.keys(value);
      if (!strictlySorted(keys)) keys.sort(codeUnitCompare);
      let s = '{';
      let first = true;
      for (const k of keys) {
        const v = (value as Record<string, unknown>)[k];
        if (v === undefined) continue;
        s += `${first ? '' : ','}${JSON.stringify(k)}:${canonicalSlow(v)}`;
        first = false;
      }
      return `${s}}`;
    }
    default:
      throw new TypeError(`canonicalJson: unsupported type ${typeof value}`);
  }
}

/** Every object in a JSON.parse result has its keys in strictly ascending code-unit order. */
function keysSortedDeep(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return true;
  if (Array.isArray(v)) {
    for (const x of v) if (!keysSortedDeep(x)) return false;
    return true;
  }
  const keys = Object.keys(v);
  if (!strictlySorted(keys)) return false;
  for (const k of keys) if (!keysSortedDeep((v as Record<string, unknown>)[k])) return false;
  return true;
}

/**
 * Whether `text` is exactly the canonical JSON of `value` (= `JSON.parse(text)`). When every object
 * of the parse already has sorted keys, canonical JSON and `JSON.stringify` coincide (a parse holds
 * only plain data, and a non-finite number from e.g. `1e999` re-serialises as `null`, so it differs),
 * so the native serialiser decides; otherwise (e.g. integer-like keys, which JS orders numerically)
 * the general serialiser does. Never throws.
 */
export function isCanonicalText(value: unknown, text: string): boolean {
  try {
    return keysSortedDeep(value) ? JSON.stringify(value) === text : canonicalJson(value) === text;
  } catch {
    return false;
  }
}

/** The member names of an entity in canonical order. */
export const ENTITY_KEYS = ['attributes', 'id', 'sources', 'text', 'title', 'type'] as const;

/**
 * A direct check of `PackEntitySchema` (never more lenient): when it returns true, the schema
 * accepts `v`. With `canonicalOrder`, it also requires the members and the attribute names in
 * canonical order — then `JSON.stringify(v)` is the entity's canonical JSON. False means "use the
 * schema" (which also produces the message), not necessarily "invalid".
 */
export function isPackEntityFast(v: unknown, canonicalOrder: boolean): v is PackEntity & PackEntityInput {
  if (!isPlain(v)) return false;
  const keys = Object.keys(v);
  if (keys.length !== ENTITY_KEYS.length) return false;
  if (canonicalOrder) {
    for (let i = 0; i < keys.length; i++) if (keys[i] !== ENTITY_KEYS[i]) return false;
  } else {
    for (const k of ENTITY_KEYS) if (!Object.prototype.hasOwnProperty.call(v, k)) return false;
  }
  const { id, type, title, text, attributes, sources } = v;
  if (typeof id !== 'string' || !TOKEN_PATTERN.test(id)) return false;
  if (typeof type !== 'string' || !TOKEN_PATTERN.test(type)) return false;
  if (typeof title !== 'string' || title.length > 1024) return false;
  if (typeof text !== 'string' || text.length > 1_048_576) return false;
  if (!isPlain(attributes)) return false;
  const names = Object.keys(attributes);
  if (names.length > 128) return false;
  if (canonicalOrder && !strictlySorted(names)) return false;
  for (const k of names) {
    if (!ATTRIBUTE_KEY_PATTERN.test(k)) return false;
    const a = attributes[k];
    if (typeof a === 'string') {
      if (a.length > 4096) return false;
    } else if (typeof a === 'number') {
      if (!Number.isFinite(a)) return false;
    } else if (a !== null && typeof a !== 'boolean') return false;
  }
  if (!Array.isArray(sources) || sources.length < 1 || sources.length > 10_000) return false;
  for (const s of sources) if (typeof s !== 'string' || !DIGEST_PATTERN.test(s)) return false;
  return true;
}
