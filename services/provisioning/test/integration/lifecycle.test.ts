// Certificate lifecycle on the real bus: revocation and the CRL, renewal over the DEVICE stream
// with the overlap and the revocation after the reconnect, decommissioning, the expiry scan.
import { readFileSync } from 'node:fs';
import { publish } from '@drover/bus';
import {
  createEvent,
  DeviceDecommissionedV1,
  deviceSubject,
  eventSubject,
  ProvisioningOps as Ops,
} from '@drover/contracts';
import { crlSerials, verifyCertificateChain } from '@drover/pki';
import { waitFor } from '@drover/testing';
import { type Harness, startHarness } from './provisioning.harness';
import { commonName, createCsr } from './pki.fixtures';

let h: Harness;
const T = 'acme';
const HW = ['L-1', 'L-2', 'L-3', 'L-4', 'L-5', 'L-6'];

beforeAll(async () => {
  // Every certificate (90 days) is inside a 100-day renewal window: the scan sees them all.
  h = await startHarness('prov_life', { CERT_RENEW_BEFORE_DAYS: 100 });
  await h.rpc(Ops.createEnrollment, { tenant: T, device_type: 'sensor', hardware_ids: HW });
}, 60_000);
afterAll(() => h.close());

async function provisioned(hw: string): Promise<{ deviceId: string; serial: string }> {
  const res = await h.rpc<{ device_id: string }>(Ops.provision, {
    hardware_id: hw,
    device_type: 'sensor',
    csr: (await createCsr('x')).csrPem,
    request_id: `p-${hw}`,
  });
  const cert = await h.rpc<{ current: { serial: string } }>(Ops.getCertificate, {
    tenant: T,
    device_id: res.device_id,
  });
  return { deviceId: res.device_id, serial: cert.current.serial };
}

const presence = (deviceId: string, state: 'online' | 'offline', ts: Date) =>
  publish(
    h.bus,
    deviceSubject(h.bus.naming, 'presence', T, deviceId),
    {
      tenant: T,
      device_type: 'sensor',
      device_id: deviceId,
      state,
      ts: ts.toISOString(),
      received_at: ts.toISOString(),
    },
    { msgId: `presence-${deviceId}-${state}-${ts.getTime()}` },
  );

const crl = () => crlSerials(readFileSync(h.crlPath, 'utf8'));

describe('certificate lifecycle', () => {
  it('writes an empty CRL at start', () => {
    expect(crl()).toEqual([]);
  });

  it('revocation on request puts the serial on the CRL and emits certificate.revoked', async () => {
    const { deviceId, serial } = await provisioned('L-1');
    const res = await h.rpc(Ops.revokeCertificate, { tenant: T, device_id: deviceId });
    expect(res).toEqual({ device_id: deviceId, revoked_serials: [serial] });
    expect(crl()).toContain(serial);
    const [revoked] = await h.waitEvents('drover.certificate.revoked.v1', deviceId);
    expect((revoked!.body as { data: { reason: string } }).data.reason).toBe('requested');
    const unknown = h.rpc(Ops.revokeCertificate, { tenant: T, device_id: deviceId, serial: 'abc' });
    await expect(unknown).rejects.toMatchObject({ code: 'certificate_not_found' });
  });

  it('renewal: new certificate, old one valid until the device reconnects, then revoked', async () => {
    const { deviceId, serial: oldSerial } = await provisioned('L-2');
    const { csrPem } = await createCsr(deviceId);
    const renew = {
      tenant: T,
      device_type: 'sensor',
      device_id: deviceId,
      msg_id: 'renew-1',
      ts: new Date().toISOString(),
      schema_version: 1,
      csr: csrPem,
      received_at: new Date().toISOString(),
    };
    const subject = deviceSubject(h.bus.naming, 'cert_renew', T, deviceId);
    await publish(h.bus, subject, renew, { msgId: 'renew-1' });
    const answer = await waitFor(() => h.renewAnswers.find((a) => a.body.device_id === deviceId));
    const response = answer.body.response as {
      status: string;
      certificate: string;
      request_id: string;
    };
    expect(response).toMatchObject({ status: 'ok', request_id: 'renew-1' });
    expect(commonName(response.certificate)).toBe(deviceId);
    expect((await verifyCertificateChain(response.certificate, h.pki.fleet.chainPems)).ok).toBe(
      true,
    );
    const listed = await h.rpc<{ certificates: { serial: string; status: string }[] }>(
      Ops.getCertificate,
      { tenant: T, device_id: deviceId },
    );
    expect(listed.certificates.find((c) => c.serial === oldSerial)?.status).toBe('superseded');
    expect(crl()).not.toContain(oldSerial);

    // The device missed the answer and asks again with the same msg_id: the same certificate.
    await publish(
      h.bus,
      subject,
      { ...renew, received_at: new Date().toISOString() },
      { msgId: 'renew-1-again' },
    );
    const answers = await waitFor(() => {
      const all = h.renewAnswers.filter((a) => a.body.device_id === deviceId);
      return all.length >= 2 ? all : undefined;
    });
    expect(answers[1]!.body.response).toEqual(response);

    await presence(deviceId, 'online', new Date(Date.now() + 1000));
    await waitFor(() => crl().includes(oldSerial), { description: 'old serial on the CRL' });
    const [revoked] = await h.waitEvents('drover.certificate.revoked.v1', deviceId);
    expect((revoked!.body as { data: { reason: string } }).data.reason).toBe('superseded');
  });

  it('refuses a renewal CSR whose CN is not the device id, answering the device', async () => {
    const { deviceId } = await provisioned('L-3');
    const { csrPem } = await createCsr('someone-else');
    const now = new Date().toISOString();
    await publish(
      h.bus,
      deviceSubject(h.bus.naming, 'cert_renew', T, deviceId),
      {
        tenant: T,
        device_type: 'sensor',
        device_id: deviceId,
        msg_id: 'bad-1',
        ts: now,
        schema_version: 1,
        csr: csrPem,
        received_at: now,
      },
      { msgId: 'bad-renew-1' },
    );
    const answer = await waitFor(() => h.renewAnswers.find((a) => a.body.device_id === deviceId));
    expect(answer.body.response).toMatchObject({ status: 'error', error: { code: 'bad_csr' } });
  });

  it('rotate_certificate sends certificate.rotate (directly, with no command-gateway here)', async () => {
    const { deviceId } = await provisioned('L-6');
    const res = await h.rpc<{ command_id: string; status: string }>(Ops.rotateCertificate, {
      tenant: T,
      device_id: deviceId,
    });
    expect(res.status).toBe('requested');
    const command = await waitFor(() => h.commands.find((c) => c.body.msg_id === res.command_id));
    expect(command.subject).toBe(`${h.ns}.iot.cmd.${T}.${deviceId}`);
    expect(command.body).toMatchObject({ command: { name: 'certificate.rotate' } });
  });

  it('decommissioning revokes every certificate of the device', async () => {
    const { deviceId, serial } = await provisioned('L-4');
    const evt = createEvent(DeviceDecommissionedV1, {
      tenant: T,
      source: 'device-registry',
      subject: deviceId,
      data: { device_id: deviceId, decommissioned_at: new Date().toISOString() },
    });
    await publish(h.bus, eventSubject(h.bus.naming, T, 'device', 'decommissioned'), evt, {
      msgId: evt.id,
    });
    await waitFor(() => crl().includes(serial), {
      description: 'decommissioned serial on the CRL',
    });
    const rotate = h.rpc(Ops.rotateCertificate, { tenant: T, device_id: deviceId });
    await expect(rotate).rejects.toMatchObject({ code: 'device_not_found' });
    const again = h.rpc(Ops.provision, {
      hardware_id: 'L-4',
      device_type: 'sensor',
      csr: (await createCsr('x')).csrPem,
      request_id: 'after-decommission',
    });
    await expect(again).rejects.toMatchObject({ code: 'decommissioned' });
  });

  it('expiry scan: asks online devices to rotate, lists the offline ones, runs once per interval', async () => {
    const online = await provisioned('L-5');
    await presence(online.deviceId, 'online', new Date());
    await waitFor(async () => {
      const row = await h.db
        .selectFrom('identities')
        .select('online')
        .where('device_id', '=', online.deviceId)
        .executeTakeFirst();
      return row?.online === true;
    });
    const report = await h.service.scanNow();
    expect(report.ran).toBe(true);
    expect(report.rotationsRequested).toBeGreaterThanOrEqual(1);
    const command = await waitFor(() =>
      h.commands.find((c) => c.subject.endsWith(`.${online.deviceId}`)),
    );
    expect(command.body).toMatchObject({
      schema_version: 1,
      command: { name: 'certificate.rotate', params: {} },
    });
    const expiring = await h.waitEvents('drover.certificate.expiring.v1', online.deviceId);
    expect(
      (expiring[0]!.body as { data: { rotation_requested: boolean } }).data.rotation_requested,
    ).toBe(true);

    const offline = await h.rpc<{ items: { device_id: string; online: boolean }[] }>(
      Ops.listExpiring,
      {
        tenant: T,
      },
    );
    expect(offline.items.length).toBeGreaterThan(0);
    expect(offline.items.every((i) => !i.online)).toBe(true);
    expect(offline.items.map((i) => i.device_id)).not.toContain(online.deviceId);

    // The timer row moved a day ahead: a second replica (or tick) does not run it again.
    expect((await h.service.scanNow()).ran).toBe(false);
  });

  it('two replicas racing for a due scan: exactly one runs it', async () => {
    await h.db
      .updateTable('timers')
      .set({ next_run_at: new Date(0) })
      .execute();
    const reports = await Promise.all([h.service.scanNow(), h.service.scanNow()]);
    expect(reports.filter((r) => r.ran)).toHaveLength(1);
  });
});
