// The one-statement first provisioning (provision.repository): what it stores, concurrent first
// provisionings of one hardware id, and a stored answer the service can no longer open.
import { createHash, X509Certificate } from 'node:crypto';
import { sql } from 'kysely';
import { ProvisioningOps as Ops } from '@drover/contracts';
import { x509 } from '@drover/pki';
import { type Harness, startHarness } from './provisioning.harness';
import { createCsr } from './pki.fixtures';

let h: Harness;
const T = 'acme';
type Ok = { status: 'ok'; device_id: string; certificate: string; msg_id: string };

const sha256 = (v: string | Buffer) => createHash('sha256').update(v).digest('hex');

beforeAll(async () => {
  h = await startHarness('prov_first');
  await h.rpc(Ops.createEnrollment, {
    tenant: T,
    device_type: 'sensor',
    hardware_ids: ['HW-F1', 'HW-RACE', 'HW-SEALED'],
  });
}, 60_000);
afterAll(() => h.close());

const provision = (body: Record<string, unknown>) =>
  h.rpc<Ok>(Ops.provision, { device_type: 'sensor', request_id: `r-${Math.random()}`, ...body });

describe('first provisioning in one statement', () => {
  it('stores identity, certificate, both events in order and the answer', async () => {
    const res = await provision({
      hardware_id: 'HW-F1',
      hardware_model: 'rev-b',
      csr: (await createCsr('x')).csrPem,
      request_id: 'req-f1',
    });
    const hardwareKey = sha256('HW-F1');
    const identity = await h.db
      .selectFrom('identities')
      .selectAll()
      .where('hardware_key', '=', hardwareKey)
      .executeTakeFirstOrThrow();
    expect(identity).toMatchObject({
      tenant: T,
      device_id: res.device_id,
      device_type: 'sensor',
      hardware_model: 'rev-b',
      decommissioned_at: null,
    });
    const [cert, ...others] = await h.db
      .selectFrom('certificates')
      .selectAll()
      .where('device_id', '=', res.device_id)
      .execute();
    expect(others).toHaveLength(0);
    const issued = new X509Certificate(res.certificate);
    expect(cert).toMatchObject({
      tenant: T,
      status: 'active',
      certificate_pem: res.certificate,
      serial: issued.serialNumber.toLowerCase(),
      fingerprint_sha256: issued.fingerprint256.replace(/:/g, '').toLowerCase(),
      public_key_sha256: sha256(issued.publicKey.export({ type: 'spki', format: 'der' })),
    });
    expect(new Date(cert!.not_after).getTime()).toBe(new Date(issued.validTo).getTime());
    expect(new Date(cert!.not_before).getTime()).toBe(new Date(issued.validFrom).getTime());
    // The same facts as a parse of the certificate by @peculiar/x509.
    expect(new x509.X509Certificate(res.certificate).subjectName.getField('CN')).toEqual([
      res.device_id,
    ]);
    // Outbox order is publish order: certificate.issued before provisioning.completed.
    const outbox = await h.db
      .selectFrom('outbox' as never)
      .select(['subject' as never, 'payload' as never])
      .orderBy('id' as never)
      .execute();
    const types = (outbox as { payload: { type: string; subject?: string } }[])
      .filter((r) => r.payload.subject === res.device_id)
      .map((r) => r.payload.type);
    expect(types).toEqual(['drover.certificate.issued.v1', 'drover.provisioning.completed.v1']);
    await h.waitEvents('drover.provisioning.completed.v1', res.device_id);
    const stored = await h.db
      .selectFrom('request_results')
      .select('response')
      .where('request_key', '=', `prov:${hardwareKey}:req-f1`)
      .executeTakeFirstOrThrow();
    expect(stored.response).toEqual(res);
    // And the replay is that stored answer (even with another key: the request id decides).
    const other = (await createCsr('y')).csrPem;
    expect(await provision({ hardware_id: 'HW-F1', csr: other, request_id: 'req-f1' })).toEqual(
      res,
    );
  });

  it('concurrent first provisionings of one hardware id: one device, one active certificate', async () => {
    const csrs = await Promise.all([1, 2, 3, 4].map((i) => createCsr(`k${i}`)));
    const outcomes = await Promise.all(
      csrs.map((c, i) =>
        provision({ hardware_id: 'HW-RACE', csr: c.csrPem, request_id: `race-${i}` }).then(
          (ok) => ({ ok }),
          (err: { code: string }) => ({ code: err.code }),
        ),
      ),
    );
    const oks = outcomes.flatMap((o) => ('ok' in o ? [o.ok] : []));
    const codes = outcomes.flatMap((o) => ('code' in o ? [o.code] : []));
    // A loser sees the winner's row (then it reprovisions) or fails on it: never a second device.
    expect(oks.length).toBeGreaterThanOrEqual(1);
    expect(new Set(codes)).toEqual(new Set(codes.length > 0 ? ['provisioning_conflict'] : []));
    const ids = await h.db
      .selectFrom('identities')
      .select('device_id')
      .where('hardware_key', '=', sha256('HW-RACE'))
      .execute();
    expect(ids).toHaveLength(1);
    for (const ok of oks) expect(ok.device_id).toBe(ids[0]!.device_id);
    // The losers' retries (same request ids) succeed on the same device.
    for (const [i, o] of outcomes.entries()) {
      if ('ok' in o) continue;
      const retried = await provision({
        hardware_id: 'HW-RACE',
        csr: csrs[i]!.csrPem,
        request_id: `race-${i}`,
      });
      expect(retried.device_id).toBe(ids[0]!.device_id);
    }
    const active = await h.db
      .selectFrom('certificates')
      .select('serial')
      .where('device_id', '=', ids[0]!.device_id)
      .where('status', '=', 'active')
      .execute();
    expect(active).toHaveLength(1);
  });

  it('a stored answer sealed with a lost key is handled as a new request', async () => {
    const key = `prov:${sha256('HW-SEALED')}:req-sealed`;
    await sql`insert into request_results (request_key, response)
      values (${key}, ${JSON.stringify({ status: 'ok', private_key_sealed: { v: 1, iv: 'AA', ct: 'AA', tag: 'AA' } })}::jsonb)`.execute(
      h.db,
    );
    const res = await provision({
      hardware_id: 'HW-SEALED',
      csr: (await createCsr('s')).csrPem,
      request_id: 'req-sealed',
    });
    expect(res.status).toBe('ok');
    expect(new X509Certificate(res.certificate).subject).toBe(`CN=${res.device_id}`);
  });
});
