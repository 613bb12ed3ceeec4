import { ValidationError } from '@drover/service-kit';
import {
  FIRMWARE_FORM_FIELDS,
  FIRMWARE_IMAGE_FIELD,
  addFormField,
  checkDeclaration,
  declarationFromForm,
} from '../../src/domain/firmware-form';

const valid = {
  version: '1.2.0',
  device_type: 'sensor',
  sha256: 'a'.repeat(64),
  size: '1024',
  signature: `${'A'.repeat(86)}==`,
  signature_alg: 'ed25519',
  key_id: 'dev-key_1',
};

function form(entries: [string, string][]): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  for (const [k, v] of entries) addFormField(fields, k, v);
  return fields;
}

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).detail;
  }
  throw new Error('expected a ValidationError');
}

describe('firmware upload form fields', () => {
  it('builds the declaration: size a number, models repeated and comma separated', () => {
    const d = declarationFromForm(
      form([
        ...Object.entries(valid),
        ['hardware_models', 'rev-a, rev-b'],
        ['hardware_models', 'rev-c'],
        ['sigstore_bundle', '{"mediaType":"x"}'],
      ]),
    );
    expect(d).toEqual({
      ...valid,
      size: 1024,
      hardware_models: ['rev-a', 'rev-b', 'rev-c'],
      sigstore_bundle: { mediaType: 'x' },
    });
  });

  it('names its fields and the image part', () => {
    expect(FIRMWARE_IMAGE_FIELD).toBe('image');
    expect([...FIRMWARE_FORM_FIELDS].sort()).toEqual(
      [...Object.keys(valid), 'hardware_models', 'sigstore_bundle'].sort(),
    );
  });

  it('no hardware models means every model of the type', () => {
    expect(declarationFromForm(form(Object.entries(valid))).hardware_models).toEqual([]);
  });

  it('refuses unknown and repeated fields', () => {
    expect(reason(() => form([['colour', 'red']]))).toMatch(/unknown form field "colour"/);
    expect(
      reason(() =>
        form([
          ['version', '1'],
          ['version', '2'],
        ]),
      ),
    ).toMatch(/"version" given twice/);
  });

  it('refuses a non-integer size and a sigstore bundle that is not JSON', () => {
    const bad = (k: string, v: string) => ({ ...valid, [k]: v });
    expect(reason(() => declarationFromForm(form(Object.entries(bad('size', '1e3')))))).toMatch(
      /size must be an integer/,
    );
    expect(
      reason(() =>
        declarationFromForm(form([...Object.entries(valid), ['sigstore_bundle', '{nope']])),
      ),
    ).toMatch(/sigstore_bundle is not JSON/);
  });

  it('names the first field that breaks the contract', () => {
    const { sha256: _omit, ...rest } = valid;
    expect(reason(() => declarationFromForm(form(Object.entries(rest))))).toMatch(/sha256/);
    expect(
      reason(() => declarationFromForm(form(Object.entries({ ...valid, signature_alg: 'rsa' })))),
    ).toMatch(/^signature_alg: /);
    expect(reason(() => checkDeclaration(5 as unknown as Record<string, unknown>))).toMatch(
      /^form: /,
    );
  });
});
