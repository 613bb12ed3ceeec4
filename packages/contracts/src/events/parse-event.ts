import { type TObject } from '@sinclair/typebox';
import { formatIssue } from '../payloads/checker';
import { findEventDefinition } from './catalog';
import { type CloudEvent, type EventDefinition, envelopeChecker } from './cloud-event';

/** Why `parseEvent` refused an event. */
export type EventRejectReason = 'bad_json' | 'bad_envelope' | 'unknown_type' | 'bad_data';

/** Result of `parseEvent`. */
export type ParseEventResult =
  | {
      /** Valid. */
      ok: true;
      /** The event (narrow its data with `isEventOf`). */
      event: CloudEvent;
      /** Its definition. */
      definition: EventDefinition;
    }
  | {
      /** Invalid. */
      ok: false;
      /** Machine-readable reason. */
      reason: EventRejectReason;
      /** Human-readable detail. */
      detail: string;
    };

/** Options for `parseEvent`. */
export interface ParseEventOptions {
  /** Definitions to accept instead of the built-in `eventCatalog`. */
  catalog?: readonly EventDefinition<TObject>[];
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function toObject(input: unknown): { ok: true; value: unknown } | { ok: false; detail: string } {
  if (typeof input !== 'string' && !(input instanceof Uint8Array))
    return { ok: true, value: input };
  try {
    const text = typeof input === 'string' ? input : utf8.decode(input);
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, detail: err instanceof Error ? err.message : String(err) };
  }
}

/** Validates an event (JSON text, bytes or object): envelope, known type, then data. Never throws. */
export function parseEvent(input: unknown, opts: ParseEventOptions = {}): ParseEventResult {
  const parsed = toObject(input);
  if (!parsed.ok) return { ok: false, reason: 'bad_json', detail: parsed.detail };
  const value = parsed.value;
  if (!envelopeChecker.check(value)) {
    const issue = envelopeChecker.firstError(value);
    return { ok: false, reason: 'bad_envelope', detail: issue ? formatIssue(issue) : 'invalid' };
  }
  const definition =
    opts.catalog !== undefined
      ? opts.catalog.find((d) => d.type === value.type)
      : findEventDefinition(value.type);
  if (definition === undefined) {
    return { ok: false, reason: 'unknown_type', detail: `unknown event type ${value.type}` };
  }
  if (!definition.data.check(value.data)) {
    const issue = definition.data.firstError(value.data);
    const detail = issue ? formatIssue({ ...issue, path: `/data${issue.path}` }) : 'invalid data';
    return { ok: false, reason: 'bad_data', detail };
  }
  return { ok: true, event: value as CloudEvent, definition };
}
