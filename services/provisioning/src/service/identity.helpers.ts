// Small helpers shared by the use cases: hashing, ids, certificate facts, events, topics.
import { createHash, randomFillSync } from 'node:crypto';
import { ulid } from 'ulid';
import {
  type CertificateSummary,
  createEvent,
  deviceRoot,
  deviceTopic,
  type EventDefinition,
  PLATFORM_CHANNELS,
  DEVICE_CHANNELS,
} from '@drover/contracts';
import { getContext } from '@drover/observability';
import { fingerprintSha256, normalizeSerial, x509 } from '@drover/pki';
import { type TObject, type Static } from '@sinclair/typebox';
import { type CertificateRow } from '../adapters/postgres/schema';
import { SERVICE_NAME } from './provisioning.context';

/** SHA-256 hex: the hardware id is personal data and is stored only hashed. */
export function sha256Hex(data: string | Uint8Array | ArrayBuffer): string {
  const bytes = typeof data === 'string' ? data : Buffer.from(data as ArrayBuffer);
  return createHash('sha256').update(bytes).digest('hex');
}

// ulid's own generator asks WebCrypto for one byte per character (16 calls an id); this one
// draws 32-bit values from a pool of CSPRNG bytes refilled 4 KiB at a time.
const randomPool = Buffer.alloc(4096);
let randomAt = randomPool.length;

/** A uniform value in [0, 1) from the CSPRNG pool (the PRNG ulid takes). */
export function poolRandom(): number {
  if (randomAt + 4 > randomPool.length) {
    randomFillSync(randomPool);
    randomAt = 0;
  }
  const v = randomPool.readUInt32BE(randomAt);
  randomAt += 4;
  return v / 0x1_0000_0000;
}

/** A new id with a prefix (`d-`, `e-`), lower-case so it reads well in topics. */
export function newId(prefix: string): string {
  return `${prefix}-${ulid(undefined, poolRandom).toLowerCase()}`;
}

/** A new message id for device-bound payloads. */
export function newMsgId(): string {
  return ulid(undefined, poolRandom);
}

/** What the service stores about a certificate it did not sign itself (AWS). */
export function certificateFacts(pem: string): {
  serial: string;
  notBefore: Date;
  notAfter: Date;
  fingerprintSha256: string;
  publicKeySha256: string;
} {
  const cert = new x509.X509Certificate(pem);
  return {
    serial: normalizeSerial(cert.serialNumber),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    fingerprintSha256: fingerprintSha256(cert),
    publicKeySha256: sha256Hex(cert.publicKey.rawData),
  };
}

/** The events' certificate summary. */
export function summary(
  row: Pick<CertificateRow, 'serial' | 'fingerprint_sha256' | 'not_before' | 'not_after'>,
): CertificateSummary {
  return {
    serial: row.serial,
    fingerprint_sha256: row.fingerprint_sha256,
    not_before: new Date(row.not_before).toISOString(),
    not_after: new Date(row.not_after).toISOString(),
  };
}

/** An event from this service in the current correlation. */
export function event<S extends TObject>(
  def: EventDefinition<S>,
  tenant: string,
  subject: string | undefined,
  data: Static<S>,
  time: Date,
) {
  const { correlationId } = getContext();
  return createEvent(def, {
    tenant,
    source: SERVICE_NAME,
    ...(subject !== undefined && { subject }),
    data,
    time,
    ...(correlationId !== undefined && { correlationId }),
  });
}

/** The device's topics, keyed by channel name with `_` for `/`. */
export function deviceTopics(tenant: string, deviceType: string, deviceId: string) {
  const root = deviceRoot({ tenant, deviceType, deviceId });
  const topics: Record<string, string> = {};
  for (const channel of [...DEVICE_CHANNELS, ...PLATFORM_CHANNELS]) {
    topics[channel.replace(/\//g, '_')] = deviceTopic(root, channel);
  }
  return topics;
}
