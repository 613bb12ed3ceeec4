// Where the key ring comes from (inline, file re-read on change, the development default), and
// the Sigstore verifier's refusals (offline, against a trusted root file).
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyRingError } from '../../src/domain/firmware-keyring';
import { DEV_TRUSTED_KEYS_FILE, keyRingSource } from '../../src/firmware/key-ring.source';
import { createSigstoreVerifier } from '../../src/firmware/sigstore.verifier';

const pem = () =>
  generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }).toString();

describe('key ring source', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drover-keys-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('takes the ring inline, as JSON or as a list', () => {
    const json = keyRingSource(JSON.stringify({ a: pem() }), dir);
    expect(json.origin).toBe('inline');
    expect([...json.current().keys()]).toEqual(['a']);
    const raw = generateKeyPairSync('ed25519')
      .publicKey.export({ format: 'der', type: 'spki' })
      .subarray(12)
      .toString('base64');
    expect([...keyRingSource(`k1=${raw}`, dir).current().keys()]).toEqual(['k1']);
  });

  it('reads a file and reads it again when it changes', async () => {
    const file = join(dir, 'ring.json');
    await writeFile(file, JSON.stringify({ a: pem() }));
    const source = keyRingSource('ring.json', dir);
    expect(source.origin).toBe(file);
    expect([...source.current().keys()]).toEqual(['a']);
    await writeFile(file, JSON.stringify({ b: pem(), c: pem() }));
    expect([...source.current().keys()]).toEqual(['b', 'c']);
  });

  it('defaults to the development ring when it exists, else an empty ring', async () => {
    expect(keyRingSource(undefined, dir)).toMatchObject({ origin: 'none' });
    expect(keyRingSource('  ', dir).current().size).toBe(0);
    await mkdir(join(dir, '.drover/dev'), { recursive: true });
    await writeFile(join(dir, DEV_TRUSTED_KEYS_FILE), JSON.stringify({ dev: pem() }));
    expect([...keyRingSource(undefined, dir).current().keys()]).toEqual(['dev']);
  });

  it('refuses a missing file and a bad ring', () => {
    expect(() => keyRingSource('missing/ring.json', dir)).toThrow(/no file/);
    expect(() => keyRingSource('{"a": "nope"}', dir)).toThrow(KeyRingError);
  });
});

describe('Sigstore verifier', () => {
  let dir: string;
  let rootPath: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drover-sigstore-'));
    rootPath = join(dir, 'trusted_root.json');
    // A trusted root that trusts nothing: every bundle must fail, and with a precise reason.
    await writeFile(
      rootPath,
      JSON.stringify({
        mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
        tlogs: [],
        certificateAuthorities: [],
        ctlogs: [],
        timestampAuthorities: [],
      }),
    );
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('refuses a malformed bundle and one its root does not vouch for', () => {
    const verifier = createSigstoreVerifier({
      trustedRootPath: rootPath,
      identity: '/@acme\\.com$/',
    });
    expect(() => verifier.verify({ mediaType: 'nope' }, Buffer.from('x'))).toThrow(
      expect.objectContaining({ code: 'firmware_bad_sigstore_bundle' }),
    );
    const bundle = {
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      verificationMaterial: {
        publicKey: { hint: 'k1' },
        tlogEntries: [],
      },
      messageSignature: {
        messageDigest: { algorithm: 'SHA2_256', digest: Buffer.alloc(32).toString('base64') },
        signature: Buffer.alloc(64).toString('base64'),
      },
    };
    expect(() =>
      createSigstoreVerifier({ trustedRootPath: rootPath }).verify(bundle, Buffer.from('x')),
    ).toThrow(expect.objectContaining({ code: 'firmware_bad_sigstore_bundle' }));
  });

  it('fails at start on an unreadable trusted root', () => {
    expect(() => createSigstoreVerifier({ trustedRootPath: join(dir, 'missing.json') })).toThrow();
  });
});
