import {
  DEVICE_CHANNELS,
  InvalidIdError,
  PLATFORM_CHANNELS,
  deviceChannelFilter,
  deviceRoot,
  deviceRootFilter,
  deviceTopic,
  isChannel,
  isDeviceChannel,
  parseDeviceTopic,
  parseProvisioningTopic,
  provisioningRequestFilter,
  provisioningTopic,
  sharedSubscription,
} from '../../src';
import { BAD_IDS } from './bad-ids';

const addr = { tenant: 'acme', deviceType: 'sensor', deviceId: 'd1' };

describe('topics', () => {
  it('lists the protocol channels', () => {
    expect(DEVICE_CHANNELS).toEqual([
      'telemetry',
      'status',
      'cmd/res',
      'update_status',
      'state/reported',
      'cert/renew',
    ]);
    expect(PLATFORM_CHANNELS).toEqual(['cmd', 'state/desired', 'cert/renew/res']);
    expect(isDeviceChannel('cmd')).toBe(false);
    expect(isDeviceChannel('cmd/res')).toBe(true);
    expect(isChannel('cmd')).toBe(true);
    expect(isChannel('nope')).toBe(false);
  });

  it('builds roots with and without a prefix', () => {
    expect(deviceRoot(addr)).toBe('acme/sensor/d1');
    expect(deviceRoot(addr, 'tp1')).toBe('tp1/acme/sensor/d1');
    expect(deviceRoot({ ...addr, prefix: 'tp2' })).toBe('tp2/acme/sensor/d1');
    expect(deviceTopic(deviceRoot(addr), 'state/reported')).toBe('acme/sensor/d1/state/reported');
    expect(() => deviceTopic('a/b/c', 'nope' as never)).toThrow(/channel/);
  });

  it.each(
    (['tenant', 'deviceType', 'deviceId', 'prefix'] as const).flatMap((field) =>
      BAD_IDS.filter((b) => !(field === 'prefix' && (b === undefined || b === ''))).map(
        (bad) => [field, bad] as const,
      ),
    ),
  )('deviceRoot refuses %s = %j', (field, bad) => {
    expect(() => deviceRoot({ ...addr, [field]: bad } as never)).toThrow(InvalidIdError);
  });

  it.each(BAD_IDS)('provisioningTopic refuses hardware id %j', (bad) => {
    expect(() => provisioningTopic(bad as string, 'req')).toThrow(InvalidIdError);
  });

  it.each([...DEVICE_CHANNELS, ...PLATFORM_CHANNELS])('round-trips channel %s', (channel) => {
    for (const prefix of [undefined, 'tp1']) {
      const topic = deviceTopic(deviceRoot(addr, prefix), channel);
      expect(parseDeviceTopic(topic, prefix)).toEqual({ ...addr, channel });
    }
  });

  it.each([
    ['acme/sensor/d1', undefined],
    ['acme/sensor/d1/', undefined],
    ['acme/sensor/d1/nope', undefined],
    ['acme/sensor/d1/cmd/res/x', undefined],
    ['acme/sensor/d1/telemetry/', undefined],
    ['/acme/sensor/d1/telemetry', undefined],
    ['acme/sen sor/d1/telemetry', undefined],
    ['acme/sensor/d.1/telemetry', undefined],
    ['acme/+/d1/telemetry', undefined],
    ['acme/sensor/#/telemetry', undefined],
    ['tp1/acme/sensor/d1/telemetry', undefined],
    ['acme/sensor/d1/telemetry', 'tp1'],
    ['tp2/acme/sensor/d1/telemetry', 'tp1'],
    ['', undefined],
  ])('parseDeviceTopic(%j, %j) is null', (topic, prefix) => {
    expect(parseDeviceTopic(topic, prefix)).toBeNull();
  });

  it('builds and parses provisioning topics', () => {
    expect(provisioningTopic('hw1', 'req')).toBe('provisioning/hw1/req');
    expect(provisioningTopic('hw1', 'res', 'tp1')).toBe('tp1/provisioning/hw1/res');
    expect(parseProvisioningTopic('provisioning/hw1/req')).toEqual({
      hardwareId: 'hw1',
      direction: 'req',
    });
    expect(parseProvisioningTopic('tp1/provisioning/hw1/res', 'tp1')).toEqual({
      hardwareId: 'hw1',
      direction: 'res',
    });
    expect(() => provisioningTopic('hw1', 'x' as never)).toThrow(/direction/);
  });

  it.each([
    'provisioning/hw1',
    'provisioning/hw1/req/x',
    'provisioning/hw1/xyz',
    'provisioning/h.w/req',
    'provision/hw1/req',
    'tp1/provisioning/hw1/req',
  ])('parseProvisioningTopic(%j) is null', (topic) => {
    expect(parseProvisioningTopic(topic)).toBeNull();
  });

  it('builds subscription filters', () => {
    expect(deviceChannelFilter('telemetry')).toBe('+/+/+/telemetry');
    expect(deviceChannelFilter('cmd/res', 'tp1')).toBe('tp1/+/+/+/cmd/res');
    expect(deviceRootFilter('acme/sensor/d1')).toBe('acme/sensor/d1/#');
    expect(provisioningRequestFilter()).toBe('provisioning/+/req');
    expect(provisioningRequestFilter('tp1')).toBe('tp1/provisioning/+/req');
    expect(sharedSubscription('ingress', '+/+/+/telemetry')).toBe('$share/ingress/+/+/+/telemetry');
    expect(() => sharedSubscription('a/b', 'x')).toThrow(InvalidIdError);
    expect(() => deviceChannelFilter('x' as never)).toThrow(/channel/);
  });
});
