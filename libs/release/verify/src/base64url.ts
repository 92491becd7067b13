import { KoaRefusal, type RefusalCode } from '@koa/contracts';

const B64URL = /^[A-Za-z0-9_-]*$/;

/** Strict, canonical base64url (RFC 4648 §5, no padding) decode; anything else is refused with `code`. */
export function decodeBase64url(value: unknown, what: string, code: RefusalCode, details: Record<string, unknown> = {}): Uint8Array {
  if (typeof value !== 'string' || !B64URL.test(value) || value.length % 4 === 1) {
    throw new KoaRefusal(code, `${what} is not base64url`, { field: what, ...details });
  }
  const bytes = new Uint8Array(Buffer.from(value, 'base64url'));
  // canonical only: unused trailing bits must be zero, so one value has exactly one encoding (no malleability)
  if (Buffer.from(bytes).toString('base64url') !== value) throw new KoaRefusal(code, `${what} is not canonical base64url`, { field: what, ...details });
  return bytes;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes base64url ⇒ UTF-8 ⇒ JSON; requires a JSON object. */
export function decodeJsonObject(
  value: unknown,
  what: string,
  code: RefusalCode,
  details: Record<string, unknown> = {},
): { bytes: Uint8Array; text: string; json: Record<string, unknown> } {
  const bytes = decodeBase64url(value, what, code, details);
  let text: string;
  let json: unknown;
  try {
    text = UTF8.decode(bytes);
    json = JSON.parse(text);
  } catch (cause) {
    throw new KoaRefusal(code, `${what} is not UTF-8 JSON`, { field: what, ...details }, { cause });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new KoaRefusal(code, `${what} is not a JSON object`, { field: what, ...details });
  }
  return { bytes, text, json: json as Record<string, unknown> };
}

export const encodeBase64url = (bytes: Uint8Array | string): string =>
  (typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).toString('base64url');
