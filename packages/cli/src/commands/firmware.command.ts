import { openAsBlob, readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { type KeyObject } from 'node:crypto';
import { type Command, InvalidArgumentError } from 'commander';
import { type ApiClient } from '../api-client';
import { type CliIo } from '../context';
import { CliError } from '../errors';
import {
  FIRMWARE_SIGNATURE_ALG,
  type FirmwareSignature,
  firmwareKeyPaths,
  loadOrCreateFirmwareKey,
  parseFirmwareKey,
  signFirmware,
} from '../firmware-keys';
import { formatTime, orDash, renderJson, renderRecord, renderTable } from '../output';
import { collectTags, parseLimit } from '../parse';
import { findRepoRoot } from '../repo-root';
import { type ActionRunner } from './command-kit';
import { addCommonOptions, resolveCommon } from '../context';

/** A firmware image as `GET /api/v1/firmware/{id}` returns it. */
export interface FirmwareView {
  /** Firmware id. */
  firmware_id: string;
  /** Semantic version. */
  version: string;
  /** Device type it is built for. */
  device_type: string;
  /** Compatible hardware models (empty: every model of the type). */
  hardware_models: string[];
  /** Hex SHA-256 of the image. */
  sha256: string;
  /** Bytes. */
  size: number;
  /** Signing key id. */
  key_id: string;
  /** Registered. */
  created_at: string;
}

/** Uploads of large images may take a while on a slow link. */
const UPLOAD_TIMEOUT_MS = 10 * 60_000;

interface KeyOptions {
  key?: string;
  keyId?: string;
}

interface UploadOptions extends KeyOptions {
  version: string;
  deviceType: string;
  hardwareModel?: string[];
  url?: string;
  sha256?: string;
  size?: number;
  signature?: string;
}

/** The signing key: `--key PEM` or the development key under `<repo>/.drover/dev/`. */
function signingKey(io: CliIo, file: string | undefined): KeyObject {
  if (file) {
    const path = resolve(io.cwd, file);
    let pem: string;
    try {
      pem = readFileSync(path, 'utf8');
    } catch (err) {
      throw new CliError(`--key: cannot read ${path}: ${(err as Error).message}`);
    }
    try {
      return parseFirmwareKey(pem, path);
    } catch (err) {
      throw new CliError(`--key: ${(err as Error).message}`);
    }
  }
  const root = findRepoRoot(io.cwd);
  if (!root) {
    throw new CliError(
      `no Drover repository above ${io.cwd} (pnpm-workspace.yaml): run inside it or pass --key`,
    );
  }
  const paths = firmwareKeyPaths(root);
  const { key, created } = loadOrCreateFirmwareKey(paths);
  if (created) io.stderr(`created the development firmware signing key ${paths.privatePem}\n`);
  return key;
}

function readImage(io: CliIo, file: string): { path: string; bytes: Buffer } {
  const path = resolve(io.cwd, file);
  try {
    return { path, bytes: readFileSync(path) };
  } catch (err) {
    throw new CliError(`cannot read ${path}: ${(err as Error).message}`);
  }
}

/** Signs `file` as `drover firmware sign` does. */
export function signFile(io: CliIo, file: string, opts: KeyOptions): FirmwareSignature {
  const { bytes } = readImage(io, file);
  if (bytes.length === 0) throw new CliError(`${file} is empty`);
  return signFirmware(bytes, signingKey(io, opts.key), opts.keyId);
}

function parseSize(input: string): number {
  const n = Number(input);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected bytes, >= 1');
  return n;
}

/** The registration fields of an upload: given explicitly, or computed from the file. */
function registration(
  io: CliIo,
  file: string | undefined,
  opts: UploadOptions,
): FirmwareSignature & { version: string; device_type: string; hardware_models: string[] } {
  const base = {
    version: opts.version,
    device_type: opts.deviceType,
    hardware_models: opts.hardwareModel ?? [],
  };
  if (opts.signature !== undefined) {
    const missing = [
      ['--sha256', opts.sha256],
      ['--size', opts.size],
      ['--key-id', opts.keyId],
    ].filter(([, v]) => v === undefined);
    if (missing.length > 0) {
      throw new CliError(`--signature needs ${missing.map(([n]) => n).join(', ')} as well`);
    }
    return {
      ...base,
      signature: opts.signature,
      signature_alg: FIRMWARE_SIGNATURE_ALG,
      key_id: opts.keyId as string,
      sha256: (opts.sha256 as string).toLowerCase(),
      size: opts.size as number,
    };
  }
  if (!file) throw new CliError('give the image FILE to sign, or --signature with --url');
  return { ...base, ...signFile(io, file, opts) };
}

const columns = [
  { header: 'FIRMWARE ID', value: (f: FirmwareView) => f.firmware_id },
  { header: 'VERSION', value: (f: FirmwareView) => f.version },
  { header: 'TYPE', value: (f: FirmwareView) => f.device_type },
  {
    header: 'MODELS',
    value: (f: FirmwareView) => (f.hardware_models.length ? f.hardware_models.join(',') : '*'),
  },
  { header: 'SIZE', value: (f: FirmwareView) => String(f.size) },
  { header: 'SHA-256', value: (f: FirmwareView) => `${f.sha256.slice(0, 12)}…` },
  { header: 'CREATED', value: (f: FirmwareView) => formatTime(f.created_at) },
];

export function renderFirmware(f: FirmwareView): string {
  return renderRecord([
    ['firmware_id', f.firmware_id],
    ['version', f.version],
    ['device_type', f.device_type],
    ['hardware_models', f.hardware_models.length ? f.hardware_models.join(', ') : '(any)'],
    ['size', String(f.size)],
    ['sha256', f.sha256],
    ['key_id', orDash(f.key_id)],
    ['created_at', formatTime(f.created_at)],
  ]);
}

async function upload(
  client: ApiClient,
  io: CliIo,
  file: string | undefined,
  opts: UploadOptions,
): Promise<FirmwareView> {
  const fields = registration(io, file, opts);
  if (opts.url !== undefined) {
    return client.request<FirmwareView>({
      method: 'POST',
      path: '/api/v1/firmware',
      body: { ...fields, url: opts.url },
    });
  }
  if (!file) throw new CliError('give the image FILE (or --url)');
  const form = new FormData();
  // Fields first: the gateway checks them before it stores the image.
  for (const [key, value] of Object.entries(fields)) {
    if (Array.isArray(value)) for (const v of value) form.append(key, v);
    else form.append(key, String(value));
  }
  const path = resolve(io.cwd, file);
  // openAsBlob streams the file from disk instead of holding a second copy in memory.
  form.append('image', await openAsBlob(path), basename(path));
  return client.request<FirmwareView>({
    method: 'POST',
    path: '/api/v1/firmware',
    form,
    timeoutMs: UPLOAD_TIMEOUT_MS,
  });
}

/** `drover firmware sign|upload|list|get`. */
export function registerFirmwareCommand(program: Command, io: CliIo, run: ActionRunner): void {
  const firmware = program.command('firmware').description('sign, register and list firmware');

  const sign = firmware
    .command('sign')
    .description('sign an image: ed25519 over its bytes, plus SHA-256 and size')
    .argument('<file>')
    .option('--key <pem>', 'ed25519 private key, PKCS#8 PEM (default: the development key)')
    .option('--key-id <id>', 'key id to report (default: RFC 7638 thumbprint of the key)');
  addCommonOptions(sign).action(() => {
    const [file] = sign.processedArgs as [string];
    const common = resolveCommon(sign.opts(), io.env);
    const sig = signFile(io, file, sign.opts<KeyOptions>());
    io.stdout(
      common.json
        ? renderJson(sig)
        : renderRecord(Object.entries(sig).map(([k, v]) => [k, String(v)])),
    );
  });

  const up = firmware
    .command('upload')
    .description('register an image (signed with --key or the development key unless --signature)')
    .argument('[file]', 'the image; also what is signed and hashed')
    .requiredOption('--version <semver>', 'firmware version, e.g. 1.4.0')
    .requiredOption('--device-type <type>', 'device type it is built for')
    .option('--hardware-model <m>', 'compatible model (repeat or comma-separate)', collectTags)
    .option('--url <url>', 'let the platform fetch the image from here instead of uploading it')
    .option('--key <pem>', 'ed25519 private key, PKCS#8 PEM (default: the development key)')
    .option('--key-id <id>', 'key id (default: thumbprint of the key)')
    .option('--signature <b64>', 'a signature made elsewhere (needs --sha256, --size, --key-id)')
    .option('--sha256 <hex>', 'declared SHA-256 of the image (with --signature)')
    .option('--size <bytes>', 'declared size (with --signature)', parseSize);
  run(up, async (client, common) => {
    const [file] = up.processedArgs as [string | undefined];
    const f = await upload(client, io, file, up.opts<UploadOptions>());
    io.stdout(common.json ? renderJson(f) : renderFirmware(f));
  });

  const list = firmware
    .command('list')
    .description('registered firmware, newest first')
    .option('--device-type <type>', 'only this device type')
    .option('--limit <n>', '1-500', parseLimit)
    .option('--cursor <c>', 'next page');
  run(list, async (client, common) => {
    const opts = list.opts<{ deviceType?: string; limit?: number; cursor?: string }>();
    const page = await client.request<{ items: FirmwareView[]; next_cursor: string | null }>({
      method: 'GET',
      path: '/api/v1/firmware',
      query: { device_type: opts.deviceType, limit: opts.limit, cursor: opts.cursor },
    });
    if (common.json) {
      io.stdout(renderJson(page));
      return;
    }
    io.stdout(renderTable(page.items, columns));
    if (page.next_cursor) io.stderr(`more: --cursor ${page.next_cursor}\n`);
  });

  const get = firmware.command('get').description('one firmware image').argument('<id>');
  run(get, async (client, common) => {
    const [id] = get.processedArgs as [string];
    const f = await client.request<FirmwareView>({
      method: 'GET',
      path: `/api/v1/firmware/${encodeURIComponent(id)}`,
    });
    io.stdout(common.json ? renderJson(f) : renderFirmware(f));
  });
}
