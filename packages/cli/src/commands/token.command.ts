import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { type JWK } from 'jose';
import { type CliIo, addCommonOptions, resolveCommon } from '../context';
import { devKeyPaths, loadOrCreateDevKey, readDevKey, signDevToken } from '../dev-keys';
import { CliError } from '../errors';
import { renderJson } from '../output';
import { parseTtl } from '../parse';
import { findRepoRoot } from '../repo-root';

/** The scopes the API knows (docs/api.md); others are signed anyway, with a warning. */
export const KNOWN_SCOPES = [
  'devices:read',
  'devices:write',
  'provisioning:write',
  'telemetry:read',
  'commands:write',
  'firmware:read',
  'firmware:write',
  'deployments:write',
  'admin',
] as const;

// The same rule as ID_PATTERN in @drover/contracts; the CLI only talks REST and loads no
// internal package at run time.
const TENANT_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

interface TokenOptions {
  tenant: string;
  scope: string;
  sub: string;
  ttl: number;
  keyFile?: string;
}

export function registerTokenCommand(program: Command, io: CliIo): void {
  const cmd = program
    .command('token')
    .description('print a development JWT signed with the key npm start creates (.drover/dev/)')
    .requiredOption('--tenant <tenant>', 'the tenant the token is scoped to')
    .requiredOption('--scope <scopes>', 'space-separated scopes, e.g. "devices:read devices:write"')
    .option('--sub <subject>', 'the subject (who acts)', 'dev-operator')
    .addOption(
      new Option('--ttl <duration>', 'lifetime: seconds or 30m, 12h, 7d')
        .argParser(parseTtl)
        .default(12 * 3600, '12h'),
    )
    .option('--key-file <path>', 'private JWK to sign with (default: <repo>/.drover/dev/…)')
    .addHelpText(
      'after',
      '\nThe token is printed alone on the last line of stdout:\n' +
        '  export DROVER_TOKEN=$(npx drover token --tenant acme --scope "devices:read")',
    );
  addCommonOptions(cmd).action(async () => {
    const opts = cmd.opts<TokenOptions>();
    const common = resolveCommon(opts as unknown as Record<string, unknown>, io.env);
    if (!TENANT_PATTERN.test(opts.tenant)) {
      throw new CliError(`--tenant: "${opts.tenant}" is not a valid id (A-Z a-z 0-9 _ -)`);
    }
    const scopes = opts.scope.split(/\s+/).filter((s) => s.length > 0);
    if (scopes.length === 0) throw new CliError('--scope: give at least one scope');
    const unknown = scopes.filter((s) => !(KNOWN_SCOPES as readonly string[]).includes(s));
    if (unknown.length > 0) {
      io.stderr(
        `warning: unknown scope ${unknown.join(', ')} (known: ${KNOWN_SCOPES.join(' ')})\n`,
      );
    }
    const jwk = opts.keyFile ? readDevKey(resolve(io.cwd, opts.keyFile)) : await repoKey(io);
    const scope = scopes.join(' ');
    const token = await signDevToken(jwk, {
      tenant: opts.tenant,
      scope,
      sub: opts.sub,
      ttlSeconds: opts.ttl,
    });
    if (common.json) {
      const expiresAt = new Date(Date.now() + opts.ttl * 1000).toISOString();
      io.stdout(
        renderJson({ token, tenant: opts.tenant, scope, sub: opts.sub, expires_at: expiresAt }),
      );
      return;
    }
    io.stdout(`${token}\n`);
  });
}

async function repoKey(io: CliIo): Promise<JWK> {
  const root = findRepoRoot(io.cwd);
  if (!root) {
    throw new CliError(
      `no Drover repository above ${io.cwd} (pnpm-workspace.yaml): run inside it or pass --key-file`,
    );
  }
  const paths = devKeyPaths(root);
  const { jwk, created } = await loadOrCreateDevKey(paths);
  if (created) io.stderr(`created the development key pair in ${paths.dir}\n`);
  return jwk;
}
