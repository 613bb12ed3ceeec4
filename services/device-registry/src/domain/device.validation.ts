// Registration and update rules for devices. Pure: no I/O, so every branch is unit-tested.
import { createHash } from 'node:crypto';
import mergePatch from 'json-merge-patch';
import {
  DEVICE_ATTRIBUTE_KEY_PATTERN,
  type DeviceAttributes as Attributes,
  type DeviceAttributesPatch,
  isValidId,
  MAX_DEVICE_ATTRIBUTES,
  MAX_DEVICE_TAGS,
  DEVICE_TAG_PATTERN,
} from '@drover/contracts';
import { invalid } from './errors';
import { jsonClone } from './json';

/** What `create_device` asks for, before validation. */
export interface RegistrationInput {
  /** Caller-chosen id; generated when absent. */
  deviceId?: string;
  /** Device type (auto-created on first use). */
  deviceType: string;
  /** Factory hardware id (personal data: never logged in clear). */
  hardwareId: string;
  /** Optional hardware model. */
  hardwareModel?: string;
  /** Optional initial tags. */
  tags?: string[];
  /** Optional initial attributes. */
  attributes?: Record<string, unknown>;
}

/** A registration that passed every rule. */
export interface Registration {
  /** The device id (given or generated). */
  deviceId: string;
  /** Device type. */
  deviceType: string;
  /** Hardware id. */
  hardwareId: string;
  /** Hardware model or null. */
  hardwareModel: string | null;
  /** Normalized tags (deduplicated, sorted). */
  tags: string[];
  /** Attributes. */
  attributes: Attributes;
}

function requireId(kind: string, value: unknown): string {
  if (!isValidId(value)) throw invalid(`${kind} must match ^[A-Za-z0-9_-]{1,64}$`);
  return value;
}

/** Deduplicates and sorts tags after checking each one and the count. */
export function normalizeTags(tags: readonly unknown[]): string[] {
  for (const tag of tags) {
    if (typeof tag !== 'string' || !DEVICE_TAG_PATTERN.test(tag)) {
      throw invalid(`tag ${JSON.stringify(tag)} must match ${DEVICE_TAG_PATTERN.source}`);
    }
  }
  const unique = [...new Set(tags as string[])].sort();
  if (unique.length > MAX_DEVICE_TAGS) throw invalid(`at most ${MAX_DEVICE_TAGS} tags per device`);
  return unique;
}

function checkAttributeKey(key: string): void {
  if (!DEVICE_ATTRIBUTE_KEY_PATTERN.test(key)) {
    throw invalid(
      `attribute key ${JSON.stringify(key)} must match ${DEVICE_ATTRIBUTE_KEY_PATTERN.source}`,
    );
  }
}

function isScalar(value: unknown): value is string | number | boolean {
  return (
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value))
  );
}

function checkAttributeCount(attributes: Attributes): Attributes {
  if (Object.keys(attributes).length > MAX_DEVICE_ATTRIBUTES) {
    throw invalid(`at most ${MAX_DEVICE_ATTRIBUTES} attributes per device`);
  }
  return attributes;
}

/** Checks a flat attribute map (keys like metric names, scalar values). */
export function validateAttributes(attributes: Record<string, unknown>): Attributes {
  for (const [key, value] of Object.entries(attributes)) {
    checkAttributeKey(key);
    if (!isScalar(value)) throw invalid(`attribute ${key} must be a string, number or boolean`);
  }
  return checkAttributeCount(attributes as Attributes);
}

/** Applies a JSON merge patch (RFC 7396; `null` deletes) to flat attributes. */
export function applyAttributesPatch(
  current: Attributes,
  patch: Record<string, unknown>,
): Attributes {
  for (const [key, value] of Object.entries(patch)) {
    checkAttributeKey(key);
    if (value !== null && !isScalar(value)) {
      throw invalid(`attribute ${key} must be a string, number, boolean or null`);
    }
  }
  const next = mergePatch.apply(jsonClone(current), patch as DeviceAttributesPatch) as Attributes;
  return checkAttributeCount(next);
}

/** Validates `create_device`; `newId` mints the id when the caller gave none. */
export function validateRegistration(input: RegistrationInput, newId: () => string): Registration {
  const deviceId = input.deviceId === undefined ? newId() : requireId('device_id', input.deviceId);
  const hardwareModel = input.hardwareModel ?? null;
  if (hardwareModel !== null && (hardwareModel.length === 0 || hardwareModel.length > 128)) {
    throw invalid('hardware_model must be 1 to 128 characters');
  }
  return {
    deviceId,
    deviceType: requireId('device_type', input.deviceType),
    hardwareId: requireId('hardware_id', input.hardwareId),
    hardwareModel,
    tags: normalizeTags(input.tags ?? []),
    attributes: validateAttributes(input.attributes ?? {}),
  };
}

/** The hardware id as events and logs carry it: SHA-256 hex, never the clear value. */
export function hashHardwareId(hardwareId: string): string {
  return createHash('sha256').update(hardwareId, 'utf8').digest('hex');
}

/** Same members regardless of order (tags are stored sorted, but be defensive). */
export function sameTags(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((t) => set.has(t));
}
