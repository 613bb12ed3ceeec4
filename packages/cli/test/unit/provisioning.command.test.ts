// drover enroll / provision / cert / dev bootstrap-cert: flags, bodies, and the files written.
import { X509Certificate, createPublicKey } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileSecretStore, loadOrCreatePki, verifyCertificateChain } from '@drover/pki';
import { enrollmentBody } from '../../src/commands/provisioning.command';
import { buildProgram, run } from '../../src/program';
import { captureIo, closedPort, tempRepo } from '../helpers/capture-io';

describe('drover enroll body', () => {
  const repo = tempRepo();
  afterAll(() => repo.remove());

  it('merges arguments, --hardware-id and a file of ids, without duplicates', () => {
    writeFileSync(join(repo.root, 'ids.txt'), '# line 7\nHW-3\n\nHW-1\r\n');
    const body = enrollmentBody(
      { deviceType: 'sensor', hardwareId: ['HW-1', 'HW-2'], hardwareIdsFile: 'ids.txt' },
      ['HW-0'],
      repo.root,
    );
    expect(body).toEqual({ device_type: 'sensor', hardware_ids: ['HW-0', 'HW-1', 'HW-2', 'HW-3'] });
  });

  it('reads a bootstrap CA for a group enrollment and passes allow_server_keys', () => {
    writeFileSync(join(repo.root, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nx\n');
    expect(
      enrollmentBody(
        { deviceType: 'gw', bootstrapCa: 'ca.pem', allowServerKeys: true },
        [],
        repo.root,
      ),
    ).toEqual({
      device_type: 'gw',
      bootstrap_ca_pem: '-----BEGIN CERTIFICATE-----\nx\n',
      allow_server_keys: true,
    });
  });

  it('refuses both kinds, neither, and an unreadable file', () => {
    expect(() =>
      enrollmentBody({ deviceType: 'gw', bootstrapCa: 'ca.pem' }, ['HW-1'], repo.root),
    ).toThrow('not both');
    expect(() => enrollmentBody({ deviceType: 'gw' }, [], repo.root)).toThrow('give hardware ids');
    expect(() =>
      enrollmentBody({ deviceType: 'gw', hardwareIdsFile: 'missing.txt' }, [], repo.root),
    ).toThrow('--hardware-ids-file: cannot read missing.txt');
  });
});

describe('drover provision / cert commands', () => {
  it('offers enroll, enrollments, provision and cert show|rotate|revoke', async () => {
    const program = buildProgram(captureIo(process.cwd()));
    const names = program.commands.map((c) => c.name());
    expect(names).toEqual(
      expect.arrayContaining(['enroll', 'enrollments', 'provision', 'cert', 'dev']),
    );
    const cert = program.commands.find((c) => c.name() === 'cert')!;
    expect(cert.commands.map((c) => c.name())).toEqual(['show', 'rotate', 'revoke']);
    const revoke = cert.commands[2]!;
    revoke.action(() => undefined);
    await program.parseAsync(['cert', 'revoke', 'd-1', '--reason', 'stolen'], { from: 'user' });
    expect(revoke.processedArgs).toEqual(['d-1']);
    expect(revoke.opts()).toMatchObject({ reason: 'stolen' });
  });

  it('refuses to ask for a server key it would have nowhere to put, before any request', async () => {
    // Nothing listens on the port: an attempted request would fail with a connection error.
    const api = `http://127.0.0.1:${await closedPort()}`;
    const io = captureIo(process.cwd(), { DROVER_API: api });
    const code = await run(['provision', '--hardware-id', 'HW-1', '--device-type', 'sensor'], io);
    expect(code).toBe(1);
    expect(io.err()).toContain('pass --out DIR (or --json)');
    const gen = captureIo(process.cwd(), { DROVER_API: api });
    expect(
      await run(
        ['provision', '--hardware-id', 'HW-1', '--device-type', 'sensor', '--generate-key'],
        gen,
      ),
    ).toBe(1);
    expect(gen.err()).toContain('--generate-key needs --out DIR');
  });
});

describe('drover dev bootstrap-cert', () => {
  const repo = tempRepo();
  afterAll(() => repo.remove());

  it('writes HW.crt, HW.key (0600) and ca.crt from the development PKI', async () => {
    const io = captureIo(repo.root);
    const code = await run(
      ['dev', 'bootstrap-cert', '--hardware-id', 'HW-42', '--out', 'certs', '--json'],
      io,
    );
    expect(io.err()).toBe('');
    expect(code).toBe(0);
    const out = JSON.parse(io.out()) as { files: string[]; serial: string };
    const dir = join(repo.root, 'certs');
    expect(out.files).toEqual([
      join(dir, 'HW-42.crt'),
      join(dir, 'HW-42.key'),
      join(dir, 'ca.crt'),
    ]);
    // The CAs npm start and the provisioning service use: <repo>/.drover/pki.
    const pki = await loadOrCreatePki(new FileSecretStore(join(repo.root, '.drover/pki')), {
      create: false,
    });
    const certPem = readFileSync(join(dir, 'HW-42.crt'), 'utf8');
    const cert = new X509Certificate(certPem);
    expect(cert.subject).toBe('CN=HW-42');
    expect((await verifyCertificateChain(certPem, pki.bootstrap.chainPems)).ok).toBe(true);
    expect((await verifyCertificateChain(certPem, pki.fleet.chainPems)).ok).toBe(false);
    const keyFile = join(dir, 'HW-42.key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(createPublicKey(readFileSync(keyFile, 'utf8')).export({ format: 'jwk' })).toEqual(
      cert.publicKey.export({ format: 'jwk' }),
    );
    expect(readFileSync(join(dir, 'ca.crt'), 'utf8')).toBe(pki.fleet.chainPems.join(''));

    // A second device from the same CA; the plain output lists the files.
    const again = captureIo(repo.root);
    expect(
      await run(['dev', 'bootstrap-cert', '--hardware-id', 'HW-43', '--out', 'certs'], again),
    ).toBe(0);
    expect(again.out()).toContain(join(dir, 'HW-43.key'));
    const second = readFileSync(join(dir, 'HW-43.crt'), 'utf8');
    expect((await verifyCertificateChain(second, pki.bootstrap.chainPems)).ok).toBe(true);
  });

  it('refuses a hardware id that is not an id, and bad --days', async () => {
    const io = captureIo(repo.root);
    expect(await run(['dev', 'bootstrap-cert', '--hardware-id', '../x', '--out', 'c'], io)).toBe(1);
    expect(io.err()).toContain('"../x" is not a valid id');
    const days = captureIo(repo.root);
    expect(
      await run(
        ['dev', 'bootstrap-cert', '--hardware-id', 'HW', '--out', 'c', '--days', '0'],
        days,
      ),
    ).not.toBe(0);
    expect(days.err()).toContain('--days');
  });
});
