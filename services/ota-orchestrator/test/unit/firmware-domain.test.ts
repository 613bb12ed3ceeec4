import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { ConflictError, GoneError, NotFoundError, ValidationError } from '@drover/service-kit';
import {
  checkDigest,
  checkImage,
  checkSignature,
  decodeSignature,
  trustedKey,
} from '../../src/domain/firmware-checks';
import {
  incompatibility,
  isCompatible,
  normalizeHardwareModels,
} from '../../src/domain/firmware-compat';
import {
  parseRange,
  signDownloadPath,
  verifyDownloadPath,
} from '../../src/domain/firmware-download-token';
import { firmwareErrors } from '../../src/domain/firmware-errors';
import {
  KEY_ID_PATTERN,
  KeyRingError,
  parseKeyRing,
  parsePublicKey,
} from '../../src/domain/firmware-keyring';
import {
  compareFirmwareVersions,
  isFirmwareVersion,
  mayInstall,
  parseFirmwareVersion,
  versionChange,
} from '../../src/domain/firmware-version';

function keyPair() {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
  const der = publicKey.export({ format: 'der', type: 'spki' });
  return { publicKey, privateKey, pem, der, raw: der.subarray(12) };
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as { code: string }).code;
  }
  throw new Error('did not throw');
}

describe('firmware versions', () => {
  it.each(['1.0.0', '2.10.3', '2.0.0-rc.1', '2.0.0-rc.1+build.5', '0.0.1'])('accepts %s', (v) => {
    expect(parseFirmwareVersion(v)).toBe(v);
    expect(isFirmwareVersion(v)).toBe(true);
  });

  it.each(['v1.0.0', '1.0', '1', '01.0.0', ' 1.0.0', '1.0.0 ', 'latest', '=1.0.0', ''])(
    'refuses %j with firmware_bad_version',
    (v) => {
      expect(code(() => parseFirmwareVersion(v))).toBe('firmware_bad_version');
      expect(isFirmwareVersion(v)).toBe(false);
    },
  );

  it('refuses an over-long version', () => {
    const v = `1.0.0-${'a'.repeat(80)}`;
    expect(code(() => parseFirmwareVersion(v))).toBe('firmware_bad_version');
    expect(isFirmwareVersion(v)).toBe(false);
  });

  it('orders by semantic version, not by text', () => {
    expect(compareFirmwareVersions('1.10.0', '1.9.0')).toBeGreaterThan(0);
    expect(compareFirmwareVersions('2.0.0-rc.1', '2.0.0')).toBeLessThan(0);
    expect(compareFirmwareVersions('1.0.0+a', '1.0.0+b')).toBe(0);
    expect(() => compareFirmwareVersions('x', '1.0.0')).toThrow(ValidationError);
  });

  it('classifies a change and applies the downgrade rule', () => {
    expect(versionChange('1.0.0', '1.1.0')).toBe('upgrade');
    expect(versionChange('1.1.0', '1.1.0')).toBe('same');
    expect(versionChange('1.2.0', '1.1.0')).toBe('downgrade');
    expect(versionChange(null, '1.1.0')).toBe('upgrade');
    expect(versionChange('dev-build', '1.1.0')).toBe('upgrade');
    expect(mayInstall('1.0.0', '1.1.0', false)).toBe(true);
    expect(mayInstall('1.1.0', '1.1.0', true)).toBe(false);
    expect(mayInstall('1.2.0', '1.1.0', false)).toBe(false);
    expect(mayInstall('1.2.0', '1.1.0', true)).toBe(true);
    expect(() => versionChange('1.0.0', 'nope')).toThrow(ValidationError);
  });
});

describe('hardware compatibility', () => {
  const fw = { device_type: 'sensor', hardware_models: ['rev-B', 'rev-c'] };

  it('matches device type and model, case-insensitively', () => {
    expect(isCompatible(fw, { device_type: 'sensor', hardware_model: 'REV-b ' })).toBe(true);
    expect(incompatibility(fw, { device_type: 'gateway', hardware_model: 'rev-b' })).toBe(
      'device_type',
    );
    expect(incompatibility(fw, { device_type: 'sensor', hardware_model: 'rev-a' })).toBe(
      'hardware_model',
    );
    expect(incompatibility(fw, { device_type: 'sensor', hardware_model: null })).toBe(
      'hardware_model',
    );
    expect(incompatibility(fw, { device_type: 'sensor', hardware_model: undefined })).toBe(
      'hardware_model',
    );
  });

  it('an empty model list runs on every model of the type', () => {
    const any = { device_type: 'sensor', hardware_models: [] };
    expect(isCompatible(any, { device_type: 'sensor', hardware_model: null })).toBe(true);
    expect(isCompatible(any, { device_type: 'other', hardware_model: 'x' })).toBe(false);
  });

  it('normalises a declared list', () => {
    expect(normalizeHardwareModels([' rev-b', 'REV-B', '', 'rev-c'])).toEqual(['rev-b', 'rev-c']);
  });
});

describe('key ring', () => {
  const a = keyPair();
  const b = keyPair();

  it('takes the key ids the contract allows', () => {
    expect(KEY_ID_PATTERN.test('Ab0_.:-x')).toBe(true);
    expect(KEY_ID_PATTERN.test('a/b')).toBe(false);
  });

  it('reads the JSON form npm start writes', () => {
    const ring = parseKeyRing(
      JSON.stringify({ 'dev-key_1': a.pem, release: b.der.toString('base64') }),
    );
    expect([...ring.keys()]).toEqual(['dev-key_1', 'release']);
    expect(ring.get('release')!.equals(b.publicKey)).toBe(true);
  });

  it('reads the list form with raw, base64url and SPKI keys', () => {
    const text = `k1=${a.raw.toString('base64')}; k2:${b.raw.toString('base64url')}\nk3=${a.der.toString('base64')};`;
    const ring = parseKeyRing(text);
    expect(ring.get('k1')!.equals(a.publicKey)).toBe(true);
    expect(ring.get('k2')!.equals(b.publicKey)).toBe(true);
    expect(ring.get('k3')!.equals(a.publicKey)).toBe(true);
    expect(parseKeyRing('   ').size).toBe(0);
  });

  it.each([
    ['bad JSON', '{"a":'],
    ['a JSON array', '[1]'],
    ['JSON null', '{}x'],
    ['a non-string key', '{"a": 1}'],
    ['no separator', 'justakey'],
    ['an empty id', '=abc'],
    ['a bad id', 'a b=AAAA'],
    ['not a key', 'k=bm90IGEga2V5'],
  ])('refuses %s', (_why, text) => {
    expect(() => parseKeyRing(text)).toThrow(KeyRingError);
  });

  it('refuses a key id given twice and a key that is not ed25519', () => {
    expect(() =>
      parseKeyRing(`k=${a.pem.replace(/\n/g, '')};k=${b.raw.toString('base64')}`),
    ).toThrow(/twice|not a public key/);
    expect(() =>
      parseKeyRing(`k=${a.raw.toString('base64')};k=${b.raw.toString('base64')}`),
    ).toThrow(/twice/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({
      format: 'pem',
      type: 'spki',
    });
    expect(() => parsePublicKey(rsa.toString())).toThrow(/rsa key, not ed25519/);
    expect(() =>
      parsePublicKey('-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----'),
    ).toThrow(KeyRingError);
  });
});

describe('image checks', () => {
  const kp = keyPair();
  const ring = parseKeyRing(JSON.stringify({ k1: kp.pem }));
  const image = Buffer.from('firmware image bytes');
  const computed = { sha256: createHash('sha256').update(image).digest('hex'), size: image.length };
  const declared = {
    ...computed,
    signature: sign(null, image, kp.privateKey).toString('base64'),
    signature_alg: 'ed25519',
    key_id: 'k1',
  };

  it('passes a well-signed image with its digest (declared hex in any case)', () => {
    expect(() => checkImage(ring, declared, computed, image)).not.toThrow();
    expect(() =>
      checkDigest({ ...declared, sha256: declared.sha256.toUpperCase() }, computed),
    ).not.toThrow();
  });

  it('names each failure precisely', () => {
    expect(code(() => checkDigest({ ...declared, size: 1 }, computed))).toBe(
      'firmware_size_mismatch',
    );
    expect(code(() => checkDigest({ ...declared, sha256: '0'.repeat(64) }, computed))).toBe(
      'firmware_sha256_mismatch',
    );
    expect(code(() => trustedKey(ring, 'nope'))).toBe('firmware_unknown_key');
    expect(code(() => checkSignature(ring, { ...declared, key_id: 'k2' }, image))).toBe(
      'firmware_unknown_key',
    );
    expect(code(() => decodeSignature({ ...declared, signature_alg: 'rsa' }))).toBe(
      'firmware_bad_signature',
    );
    expect(code(() => decodeSignature({ ...declared, signature: 'abc' }))).toBe(
      'firmware_bad_signature',
    );
    expect(code(() => checkSignature(ring, declared, Buffer.from('other bytes')))).toBe(
      'firmware_bad_signature',
    );
    const other = sign(null, image, keyPair().privateKey).toString('base64');
    expect(code(() => checkImage(ring, { ...declared, signature: other }, computed, image))).toBe(
      'firmware_bad_signature',
    );
  });
});

describe('firmware errors', () => {
  it('map to their HTTP classes', () => {
    expect(firmwareErrors.exists('sensor', '1.0.0')).toBeInstanceOf(ConflictError);
    expect(firmwareErrors.notFound('x')).toBeInstanceOf(NotFoundError);
    expect(firmwareErrors.artifactMissing('x')).toBeInstanceOf(GoneError);
    expect(firmwareErrors.tooLarge(10, 5).status).toBe(413);
    for (const err of [
      firmwareErrors.badSigstoreBundle('x'),
      firmwareErrors.uploadNotFound('b', 'n'),
      firmwareErrors.fetchFailed('x'),
    ]) {
      expect(err).toBeInstanceOf(ValidationError);
    }
    expect(firmwareErrors.badSigstoreBundle('x').code).toBe('firmware_bad_sigstore_bundle');
    expect(firmwareErrors.uploadNotFound('b', 'n').code).toBe('firmware_upload_not_found');
    expect(firmwareErrors.fetchFailed('x').code).toBe('firmware_fetch_failed');
  });
});

describe('download URLs', () => {
  const secret = Buffer.from('s3cret-s3cret-s3cret');
  const grant = { firmwareId: '01JDAFW', deviceId: 'd-1', expiresAt: 2_000_000_000 };

  it('verifies its own URL until it expires', () => {
    const path = signDownloadPath(secret, grant);
    expect(path).toMatch(/^\/firmware\/01JDAFW\/image\?device=d-1&exp=2000000000&sig=/);
    expect(verifyDownloadPath(secret, path, 1_999_999_999)).toEqual({ ok: true, grant });
    expect(verifyDownloadPath(secret, path, 2_000_000_000)).toEqual({
      ok: false,
      reason: 'expired',
    });
  });

  it('refuses forged, altered and malformed URLs', () => {
    const path = signDownloadPath(secret, grant);
    const refuse = (p: string) => verifyDownloadPath(secret, p, 0);
    expect(verifyDownloadPath(Buffer.from('other'), path, 0)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(refuse(path.replace('exp=2000000000', 'exp=2000000001'))).toMatchObject({
      reason: 'bad_signature',
    });
    expect(refuse(path.replace('device=d-1', 'device=d-2'))).toMatchObject({
      reason: 'bad_signature',
    });
    expect(refuse(`${path.replace(/sig=[^&]+/, 'sig=')}`)).toMatchObject({ reason: 'bad_request' });
    expect(refuse(path.replace(/sig=[^&]+/, 'sig=short'))).toMatchObject({
      reason: 'bad_signature',
    });
    expect(refuse('/firmware/01JDAFW/image')).toMatchObject({ reason: 'bad_request' });
    expect(refuse('/firmware/a.b/image?device=d&exp=1&sig=x')).toMatchObject({
      reason: 'bad_request',
    });
    expect(refuse('/firmware/a/image?device=d&exp=soon&sig=x')).toMatchObject({
      reason: 'bad_request',
    });
    expect(refuse('/other')).toEqual({ ok: false, reason: 'not_found' });
  });

  it('parses single byte ranges', () => {
    expect(parseRange(undefined, 100)).toBeNull();
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=90-500', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-500', 100)).toEqual({ start: 0, end: 99 });
    expect(parseRange('bytes=-0', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=100-', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=9-3', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=-', 100)).toBeNull();
    expect(parseRange('bytes=0-1,5-6', 100)).toBeNull();
    expect(parseRange('items=0-1', 100)).toBeNull();
  });
});
