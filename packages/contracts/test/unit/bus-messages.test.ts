import { busMessageCheckers, deviceKindCheckers, DEVICE_SUBJECT_KINDS } from '../../src';
import { validPayloads } from './fixtures/payloads';

const origin = {
  tenant: 'acme',
  device_type: 'sensor',
  device_id: 'd1',
  received_at: '2025-06-01T12:00:00.010Z',
};

const examples: Record<keyof typeof busMessageCheckers, Record<string, unknown>> = {
  PresenceMessage: {
    ...origin,
    state: 'online',
    firmware_version: '1.4.2',
    ts: '2025-06-01T12:00:00Z',
  },
  TelemetryMessage: { ...validPayloads.TelemetryPayload, ...origin },
  StateReportedMessage: { ...validPayloads.StateReportedPayload, ...origin },
  CommandResultMessage: { ...validPayloads.CommandResultPayload, ...origin },
  UpdateStatusMessage: { ...validPayloads.UpdateStatusPayload, ...origin },
  CertRenewMessage: { ...validPayloads.CertRenewPayload, ...origin },
  CommandSentMessage: {
    ...origin,
    cmd_id: '01JDA19ZQ3M8K2C4E6G8J0M2P4',
    sent_at: '2025-06-01T12:00:00.010Z',
  },
  CertRenewResultMessage: {
    tenant: 'acme',
    device_type: 'sensor',
    device_id: 'd1',
    response: validPayloads.CertRenewResponse,
  },
};

describe('bus messages', () => {
  it('has a checker per device subject kind', () => {
    expect(Object.keys(deviceKindCheckers).sort()).toEqual([...DEVICE_SUBJECT_KINDS].sort());
  });

  it.each(Object.entries(examples))('%s accepts its example', (name, value) => {
    const checker = busMessageCheckers[name as keyof typeof busMessageCheckers];
    expect(checker.firstError(value)).toBeNull();
  });

  it.each(Object.entries(examples))(
    '%s tolerates added fields (tolerant reader)',
    (name, value) => {
      const checker = busMessageCheckers[name as keyof typeof busMessageCheckers];
      expect(checker.check({ ...value, added_later: 1 })).toBe(true);
    },
  );

  it.each(
    Object.keys(examples).flatMap((name) =>
      // A renewal answer goes to the device, not from it: it has no receive time.
      (name === 'CertRenewResultMessage'
        ? ['tenant', 'device_type', 'device_id']
        : ['tenant', 'device_type', 'device_id', 'received_at']
      ).map((field) => [name, field] as const),
    ),
  )('%s requires %s', (name, field) => {
    const checker = busMessageCheckers[name as keyof typeof busMessageCheckers];
    const value: Record<string, unknown> = { ...examples[name as keyof typeof examples] };
    delete value[field];
    expect(checker.firstError(value)?.path).toBe(`/${field}`);
    expect(checker.check({ ...value, [field]: 'a.b c' })).toBe(false);
  });

  it('presence: offline from the last will, ts as epoch ms', () => {
    const { PresenceMessage } = busMessageCheckers;
    expect(PresenceMessage.check({ ...origin, state: 'offline', ts: 1_700_000_000_000 })).toBe(
      true,
    );
    expect(PresenceMessage.check({ ...origin, state: 'away', ts: 1 })).toBe(false);
    expect(PresenceMessage.check({ ...origin, state: 'online' })).toBe(false);
  });

  it('still validates the device payload part', () => {
    const bad = { ...examples.TelemetryMessage, metrics: { 'a b': 1 } };
    expect(busMessageCheckers.TelemetryMessage.firstError(bad)?.path).toBe('/metrics/a b');
  });
});
