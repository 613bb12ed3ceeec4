// The ingress' broker settings: plain MQTT as before, TLS files read and checked together.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@drover/service-kit';
import { brokerTarget, tlsConnectOptions } from '../../src/adapters/mqtt/broker';
import { loadIngressConfig } from '../../src/config';

const dir = mkdtempSync(join(tmpdir(), 'drover-broker-tls-'));
const CERT = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
const ca = join(dir, 'ca.pem');
const cert = join(dir, 'client.crt');
const key = join(dir, 'client.key');
const empty = join(dir, 'empty.pem');
writeFileSync(ca, `${CERT}${CERT.replace('AAAA', 'BBBB')}`);
writeFileSync(cert, CERT);
writeFileSync(key, '-----BEGIN PRIVATE KEY-----\nCCCC\n-----END PRIVATE KEY-----\n');
writeFileSync(empty, 'nothing here\n');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function issues(fn: () => unknown): Record<string, string> {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return Object.fromEntries((err as ConfigError).issues.map((i) => [i.variable, i.reason]));
  }
  throw new Error('no ConfigError');
}

describe('brokerTarget', () => {
  it('keeps plain mqtt:// without TLS options (the default)', () => {
    const target = brokerTarget(loadIngressConfig({ NATS_URL: 'nats://x:4222' }));
    expect(target).toEqual({ url: 'mqtt://127.0.0.1:1883' });
    expect(tlsConnectOptions(target.tls)).toEqual({});
  });

  it('reads the CA bundle (one entry per certificate), certificate and key for mqtts://', () => {
    const target = brokerTarget({
      MQTT_URL: 'mqtts://127.0.0.1:8885',
      MQTT_CA_FILE: ca,
      MQTT_CERT_FILE: cert,
      MQTT_KEY_FILE: key,
      MQTT_TLS_SERVERNAME: 'broker.internal',
    });
    expect(target.tls?.ca).toHaveLength(2);
    expect(tlsConnectOptions(target.tls)).toMatchObject({
      rejectUnauthorized: true,
      cert: CERT,
      key: expect.stringContaining('PRIVATE KEY'),
      servername: 'broker.internal',
    });
  });

  it('accepts mqtts:// with the system trust store and no client certificate', () => {
    const target = brokerTarget({ MQTT_URL: 'mqtts://broker.example:8883' });
    expect(tlsConnectOptions(target.tls)).toEqual({ rejectUnauthorized: true });
  });

  it('names each bad variable', () => {
    expect(issues(() => brokerTarget({ MQTT_URL: 'mqtt://h:1883', MQTT_CERT_FILE: cert }))).toEqual(
      { MQTT_CERT_FILE: expect.stringContaining('mqtts://') },
    );
    expect(
      issues(() => brokerTarget({ MQTT_URL: 'mqtts://h:8885', MQTT_CERT_FILE: cert })),
    ).toEqual({ MQTT_KEY_FILE: expect.stringContaining('pair') });
    expect(
      issues(() =>
        brokerTarget({
          MQTT_URL: 'mqtts://h:8885',
          MQTT_CA_FILE: empty,
          MQTT_CERT_FILE: join(dir, 'missing.crt'),
          MQTT_KEY_FILE: key,
        }),
      ),
    ).toEqual({
      MQTT_CA_FILE: 'holds no PEM certificate',
      MQTT_CERT_FILE: expect.stringContaining('cannot read'),
    });
    expect(issues(() => brokerTarget({ MQTT_URL: 'not a url' }))).toEqual({
      MQTT_URL: expect.stringContaining('not a URL'),
    });
  });
});
