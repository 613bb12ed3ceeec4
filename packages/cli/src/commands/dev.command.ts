import { resolve } from 'node:path';
import { type Command } from 'commander';
import { FileSecretStore, issueClientCertificate, loadOrCreatePki } from '@drover/pki';
import { type CliIo, addCommonOptions, resolveCommon } from '../context';
import { CliError } from '../errors';
import { renderJson } from '../output';
import { findRepoRoot } from '../repo-root';
import { safeFileStem, writeCredentials } from './credentials';

interface BootstrapOptions {
  hardwareId: string;
  out: string;
  pkiDir?: string;
  days: number;
}

function parseDays(input: string): number {
  const n = Number(input);
  if (!Number.isInteger(n) || n < 1 || n > 3650) {
    throw new CliError(`--days: expected an integer from 1 to 3650, got "${input}"`);
  }
  return n;
}

/** Where the development PKI lives: --pki-dir, $PKI_DIR or <repo>/.drover/pki (npm start's). */
export function devPkiDir(io: CliIo, flag: string | undefined): string {
  if (flag !== undefined) return resolve(io.cwd, flag);
  const root = findRepoRoot(io.cwd);
  if (!root) {
    throw new CliError(
      `no Drover repository above ${io.cwd} (pnpm-workspace.yaml): run inside it or pass --pki-dir`,
    );
  }
  return resolve(root, io.env.PKI_DIR ?? '.drover/pki');
}

/** `drover dev bootstrap-cert`: development helpers that work on local files, not the API. */
export function registerDevCommand(program: Command, io: CliIo): void {
  const dev = program.command('dev').description('development helpers (local files, no API)');

  const bootstrap = dev
    .command('bootstrap-cert')
    .description(
      'write a factory bootstrap certificate (CN = hardware id) from the development bootstrap ' +
        'CA: DIR/HW.crt, DIR/HW.key (0600) and DIR/ca.crt (the broker CA chain)',
    )
    .requiredOption('--hardware-id <id>', 'the hardware id (the certificate CN)')
    .requiredOption('--out <dir>', 'where to write the files')
    .option('--pki-dir <dir>', 'the PKI secret store (default: $PKI_DIR or <repo>/.drover/pki)')
    .option('--days <n>', 'validity in days', parseDays, 365);
  addCommonOptions(bootstrap).action(async () => {
    const opts = bootstrap.opts<BootstrapOptions>();
    const common = resolveCommon(opts as unknown as Record<string, unknown>, io.env);
    const hw = safeFileStem(opts.hardwareId);
    const dir = devPkiDir(io, opts.pkiDir);
    // The same store and CAs the provisioning service and the mTLS broker of npm start use;
    // created here when npm start has not run yet.
    const pki = await loadOrCreatePki(new FileSecretStore(dir));
    const issued = await issueClientCertificate(pki.bootstrap, {
      commonName: hw,
      profile: 'bootstrap',
      validityDays: opts.days,
    });
    const files = writeCredentials(io.cwd, opts.out, [
      { name: `${hw}.crt`, content: issued.certificatePem },
      { name: `${hw}.key`, content: issued.privateKeyPem, secret: true },
      { name: 'ca.crt', content: pki.fleet.chainPems.join('') },
    ]);
    if (common.json) {
      io.stdout(
        renderJson({
          hardware_id: hw,
          serial: issued.serial,
          not_after: issued.notAfter.toISOString(),
          fingerprint_sha256: issued.fingerprintSha256,
          files,
        }),
      );
      return;
    }
    io.stdout(`${files.join('\n')}\n`);
  });
}
