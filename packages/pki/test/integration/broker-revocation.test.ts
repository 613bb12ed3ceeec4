// Revocation on the real broker: a regenerated CRL, and what it takes for Mosquitto to enforce it.
import { waitFor } from '@drover/testing';
import { crlSerials, type IssuedCertificateWithKey } from '@drover/pki';
import type { MqttClient } from 'mqtt';
import {
  clientCert,
  closeAll,
  connectTls,
  mosquittoPid,
  startSecureBroker,
  waitForTls,
  type BrokerFixture,
} from './broker.harness';

let fx: BrokerFixture;
let fleetCa: string[];

function connect(identity: IssuedCertificateWithKey): Promise<MqttClient> {
  return connectTls({ port: fx.broker.ports.fleet, identity, ca: fleetCa });
}

async function accepted(identity: IssuedCertificateWithKey): Promise<boolean> {
  try {
    const c = await connect(identity);
    await c.endAsync(true);
    return true;
  } catch {
    // Refused by the broker: that is the answer we poll for.
    return false;
  }
}

beforeAll(async () => {
  fx = await startSecureBroker();
  fleetCa = fx.broker.pki.fleet.chainPems;
});

afterAll(async () => {
  await closeAll();
  await fx?.destroy();
});

describe('revocation', () => {
  let revoked: IssuedCertificateWithKey;
  /** Revoked too, with its own CN: probing with `revoked` itself would take over `live`. */
  let probe: IssuedCertificateWithKey;
  let kept: IssuedCertificateWithKey;
  let live: MqttClient;

  beforeAll(async () => {
    revoked = await clientCert(fx.broker.pki.fleet, 'dev-revoked');
    probe = await clientCert(fx.broker.pki.fleet, 'dev-revoked-probe');
    kept = await clientCert(fx.broker.pki.fleet, 'dev-kept');
    expect(await accepted(revoked)).toBe(true);
    live = await connect(revoked);
    await fx.broker.writeCrl([
      { serial: revoked.serial, revokedAt: new Date(), reason: 'keyCompromise' },
      { serial: probe.serial, revokedAt: new Date(), reason: 'superseded' },
    ]);
  });

  it('the regenerated CRL lists the serial', async () => {
    const { readFile } = await import('node:fs/promises');
    const pem = await readFile(fx.broker.files.crlFile, 'utf8');
    expect(crlSerials(pem).sort()).toEqual([revoked.serial, probe.serial].sort());
  });

  it('a rewritten CRL file alone is not enforced: mosquitto keeps the CRL it loaded', async () => {
    expect(await accepted(probe)).toBe(true);
  });

  it('after SIGHUP new connections of the revoked certificate are refused at once', async () => {
    const t0 = Date.now();
    process.kill(mosquittoPid(fx.mosquitto), 'SIGHUP');
    await waitFor(async () => !(await accepted(probe)), { timeoutMs: 2000, intervalMs: 20 });
    // Measured on the dev machine: 20-60 ms (docs/security.md).
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(await accepted(kept)).toBe(true);
  });

  it('SIGHUP does not cut a live connection; a broker restart does, and it cannot return', async () => {
    expect(live.connected).toBe(true);
    const closed = new Promise<void>((resolve) => live.once('close', () => resolve()));
    const t0 = Date.now();
    await fx.mosquitto.stop();
    await fx.mosquitto.start();
    await waitForTls(fx.broker);
    await closed;
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await accepted(revoked)).toBe(false);
    expect(await accepted(probe)).toBe(false);
    expect(await accepted(kept)).toBe(true);
  });
});
