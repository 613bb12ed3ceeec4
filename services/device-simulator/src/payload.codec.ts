// Bodies to bytes: JSON, CBOR (cbor-x), or deliberately broken JSON for the malformed fault.
import { encode } from 'cbor-x';
import type { Encoding } from './domain/messages';

/** Serialises a payload; `malformed` sends truncated JSON that the ingress must reject. */
export function encodePayload(
  body: Record<string, unknown>,
  encoding: Encoding,
  malformed = false,
): Buffer {
  if (malformed) return Buffer.from(JSON.stringify(body).slice(0, -1));
  return encoding === 'cbor' ? encode(body) : Buffer.from(JSON.stringify(body));
}
