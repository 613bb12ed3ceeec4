import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Command } from 'commander';
import { createCsr } from '@drover/pki';
import { type ApiClient } from '../api-client';
import { type CliIo, type CommonOptions } from '../context';
import { CliError } from '../errors';
import { formatTime, orDash, renderJson, renderRecord, renderTable } from '../output';
import { collectTags } from '../parse';
import { type ActionRunner } from './command-kit';
import { safeFileStem, writeCredentials } from './credentials';

/** An enrollment as the API returns it. */
export interface EnrollmentView {
  enrollment_id: string;
  tenant: string;
  device_type: string;
  kind: 'individual' | 'group';
  hardware_id_count: number;
  bootstrap_ca_fingerprint: string | null;
  allow_server_keys: boolean;
  created_at: string;
}

/** The answer of `POST /api/v1/devices/provision`. */
export interface ProvisionedView {
  request_id: string;
  device_id: string;
  tenant: string;
  certificate: string;
  ca_chain: string;
  private_key?: string;
  endpoints: { mqtt: string; api: string };
  topics: Record<string, string>;
}

/** A certificate summary. */
export interface CertificateView {
  serial: string;
  fingerprint_sha256: string;
  status: string;
  not_before: string;
  not_after: string;
  revoked_at: string | null;
}

interface EnrollOptions {
  deviceType: string;
  hardwareId?: string[];
  hardwareIdsFile?: string;
  bootstrapCa?: string;
  allowServerKeys?: boolean;
  idempotencyKey?: string;
}

interface ProvisionOptions {
  deviceType: string;
  hardwareId: string;
  hardwareModel?: string;
  csr?: string;
  generateKey?: boolean;
  out?: string;
  idempotencyKey?: string;
}

const ENROLLMENTS = '/api/v1/enrollments';
const device = (id: string) => `/api/v1/devices/${encodeURIComponent(id)}`;
const keyHeader = (key: string | undefined) => (key ? { 'idempotency-key': key } : undefined);

function readText(cwd: string, file: string, what: string): string {
  try {
    return readFileSync(resolve(cwd, file), 'utf8');
  } catch (err) {
    throw new CliError(`${what}: cannot read ${file}: ${(err as Error).message}`);
  }
}

/** The enrollment body from the flags: hardware ids (flags, arguments, a file) or a CA. */
export function enrollmentBody(
  opts: EnrollOptions,
  args: readonly string[],
  cwd: string,
): Record<string, unknown> {
  const ids = [...args, ...(opts.hardwareId ?? [])];
  if (opts.hardwareIdsFile !== undefined) {
    ids.push(
      ...readText(cwd, opts.hardwareIdsFile, '--hardware-ids-file')
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter((l) => l.length > 0 && !l.startsWith('#')),
    );
  }
  if (ids.length > 0 && opts.bootstrapCa !== undefined) {
    throw new CliError('give hardware ids or --bootstrap-ca, not both');
  }
  if (ids.length === 0 && opts.bootstrapCa === undefined) {
    throw new CliError(
      'give hardware ids (arguments, --hardware-id, --hardware-ids-file) or --bootstrap-ca',
    );
  }
  return {
    device_type: opts.deviceType,
    ...(ids.length > 0 && { hardware_ids: [...new Set(ids)] }),
    ...(opts.bootstrapCa !== undefined && {
      bootstrap_ca_pem: readText(cwd, opts.bootstrapCa, '--bootstrap-ca'),
    }),
    ...(opts.allowServerKeys && { allow_server_keys: true }),
  };
}

function renderEnrollment(e: EnrollmentView): string {
  return renderRecord([
    ['enrollment_id', e.enrollment_id],
    ['tenant', e.tenant],
    ['device_type', e.device_type],
    ['kind', e.kind],
    ['hardware_ids', e.kind === 'individual' ? String(e.hardware_id_count) : '-'],
    ['bootstrap_ca', orDash(e.bootstrap_ca_fingerprint)],
    ['allow_server_keys', String(e.allow_server_keys)],
    ['created_at', formatTime(e.created_at)],
  ]);
}

function renderCertificates(items: readonly CertificateView[]): string {
  return renderTable(items, [
    { header: 'serial', value: (c) => c.serial },
    { header: 'status', value: (c) => c.status },
    { header: 'not_after', value: (c) => formatTime(c.not_after) },
    { header: 'revoked_at', value: (c) => formatTime(c.revoked_at) },
  ]);
}

async function provisionDevice(
  client: ApiClient,
  io: CliIo,
  common: CommonOptions,
  opts: ProvisionOptions,
): Promise<void> {
  if (opts.csr !== undefined && opts.generateKey) {
    throw new CliError('give --csr or --generate-key, not both');
  }
  if (opts.generateKey && opts.out === undefined) {
    throw new CliError('--generate-key needs --out DIR for the private key');
  }
  // A server-generated key must end up somewhere: a file, or the JSON the caller asked for.
  if (opts.csr === undefined && !opts.generateKey && opts.out === undefined && !common.json) {
    throw new CliError(
      'without --csr the platform generates the private key: pass --out DIR (or --json)',
    );
  }
  const local = opts.generateKey ? await createCsr(safeFileStem(opts.hardwareId)) : undefined;
  const csr =
    local?.csrPem ?? (opts.csr === undefined ? undefined : readText(io.cwd, opts.csr, '--csr'));
  const answer = await client.request<ProvisionedView>({
    method: 'POST',
    path: '/api/v1/devices/provision',
    body: {
      device_type: opts.deviceType,
      hardware_id: opts.hardwareId,
      ...(csr !== undefined && { csr }),
      ...(opts.hardwareModel !== undefined && { hardware_model: opts.hardwareModel }),
    },
    headers: keyHeader(opts.idempotencyKey),
  });
  const privateKey = local?.privateKeyPem ?? answer.private_key;
  let written: string[] = [];
  if (opts.out !== undefined) {
    const stem = safeFileStem(answer.device_id);
    written = writeCredentials(io.cwd, opts.out, [
      { name: `${stem}.crt`, content: answer.certificate },
      ...(privateKey !== undefined
        ? [{ name: `${stem}.key`, content: privateKey, secret: true }]
        : []),
      { name: 'ca.crt', content: answer.ca_chain },
    ]);
  }
  if (common.json) {
    io.stdout(
      renderJson(
        opts.out === undefined ? answer : { ...answer, private_key: undefined, files: written },
      ),
    );
    return;
  }
  io.stdout(
    renderRecord([
      ['device_id', answer.device_id],
      ['tenant', answer.tenant],
      ['request_id', answer.request_id],
      ['mqtt', answer.endpoints.mqtt],
      ['files', written.join('\n') || '-'],
    ]),
  );
}

/** `drover enroll`, `drover enrollments`, `drover provision`, `drover cert rotate|revoke|show`. */
export function registerProvisioningCommand(program: Command, io: CliIo, run: ActionRunner): void {
  const enroll = program
    .command('enroll')
    .description('enroll hardware ids (or a bootstrap CA) for a device type')
    .argument('[hardware-ids...]', 'hardware ids to enroll')
    .requiredOption('--device-type <type>', 'the device type, e.g. sensor')
    .option('--hardware-id <id>', 'a hardware id; repeat or comma-separate', collectTags)
    .option('--hardware-ids-file <file>', 'hardware ids, one a line (# comments)')
    .option('--bootstrap-ca <pem-file>', 'group enrollment: every bootstrap cert this CA signed')
    .option('--allow-server-keys', 'let the platform generate the key when no CSR is sent')
    .option(
      '--idempotency-key <key>',
      'retry-safe: a repeat with the same key returns the first answer',
    );
  run(enroll, async (client, common) => {
    const opts = enroll.opts<EnrollOptions>();
    const body = enrollmentBody(opts, enroll.processedArgs[0] as string[], io.cwd);
    const e = await client.request<EnrollmentView>({
      method: 'POST',
      path: ENROLLMENTS,
      body,
      headers: keyHeader(opts.idempotencyKey),
    });
    io.stdout(common.json ? renderJson(e) : renderEnrollment(e));
  });

  const enrollments = program
    .command('enrollments')
    .description("list the tenant's enrollments")
    .option('--device-type <type>', 'only this device type')
    .option('--cursor <cursor>', 'the next_cursor of the previous page');
  run(enrollments, async (client, common) => {
    const opts = enrollments.opts<{ deviceType?: string; cursor?: string }>();
    const page = await client.request<{ items: EnrollmentView[]; next_cursor: string | null }>({
      method: 'GET',
      path: ENROLLMENTS,
      query: { device_type: opts.deviceType, cursor: opts.cursor },
    });
    if (common.json) {
      io.stdout(renderJson(page));
      return;
    }
    io.stdout(
      renderTable(page.items, [
        { header: 'enrollment_id', value: (e) => e.enrollment_id },
        { header: 'device_type', value: (e) => e.device_type },
        { header: 'kind', value: (e) => e.kind },
        { header: 'hardware_ids', value: (e) => String(e.hardware_id_count) },
        { header: 'server_keys', value: (e) => String(e.allow_server_keys) },
        { header: 'created_at', value: (e) => formatTime(e.created_at) },
      ]),
    );
    if (page.next_cursor) io.stderr(`more: --cursor ${page.next_cursor}\n`);
  });

  const provision = program
    .command('provision')
    .description('provision a device over REST (factory lines, installer apps)')
    .requiredOption('--hardware-id <id>', 'the enrolled hardware id')
    .requiredOption('--device-type <type>', 'the device type it is enrolled as')
    .option('--csr <file>', "PKCS#10 CSR (PEM) of the device's own key")
    .option('--generate-key', 'make the key and CSR here (P-256); the key goes to --out only')
    .option('--hardware-model <model>', 'the hardware model')
    .option('--out <dir>', 'write <device-id>.crt, <device-id>.key (0600) and ca.crt here')
    .option(
      '--idempotency-key <key>',
      'retry-safe: the same key returns the same answer (and key)',
    );
  run(provision, (client, common) =>
    provisionDevice(client, io, common, provision.opts<ProvisionOptions>()),
  );

  const cert = program.command('cert').description("a device's certificate: show, rotate, revoke");

  const show = cert.command('show').description("a device's certificates").argument('<device-id>');
  run(show, async (client, common) => {
    const [id] = show.processedArgs as [string];
    const res = await client.request<{ certificates: CertificateView[] }>({
      method: 'GET',
      path: `${device(id)}/certificate`,
    });
    io.stdout(common.json ? renderJson(res) : renderCertificates(res.certificates));
  });

  const rotate = cert
    .command('rotate')
    .description('ask the device to renew its certificate (certificate.rotate command)')
    .argument('<device-id>');
  run(rotate, async (client, common) => {
    const [id] = rotate.processedArgs as [string];
    const res = await client.request<{ device_id: string; command_id: string; status: string }>({
      method: 'POST',
      path: `${device(id)}/certificate/rotate`,
    });
    io.stdout(common.json ? renderJson(res) : `${res.command_id}\n`);
  });

  const revoke = cert
    .command('revoke')
    .description("revoke the device's certificates (or one --serial); the CRL is regenerated")
    .argument('<device-id>')
    .option('--serial <hex>', 'revoke only this certificate')
    .option('--reason <text>', 'why, for the audit log');
  run(revoke, async (client, common) => {
    const [id] = revoke.processedArgs as [string];
    const opts = revoke.opts<{ serial?: string; reason?: string }>();
    const res = await client.request<{ device_id: string; revoked_serials: string[] }>({
      method: 'POST',
      path: `${device(id)}/certificate/revoke`,
      body: {
        ...(opts.serial !== undefined && { serial: opts.serial.toLowerCase() }),
        ...(opts.reason !== undefined && { reason: opts.reason }),
      },
    });
    if (common.json) {
      io.stdout(renderJson(res));
      return;
    }
    io.stdout(
      res.revoked_serials.length === 0 ? '(none revoked)\n' : `${res.revoked_serials.join('\n')}\n`,
    );
  });
}
