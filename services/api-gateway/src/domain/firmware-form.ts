// The text fields of a multipart firmware upload (`POST /firmware`) turned into the JSON
// declaration the registry contract describes: repeated or comma-separated hardware models,
// the size as a number, the Sigstore bundle parsed. Checked against the same schema as JSON.
import { FirmwareDeclaration } from '@drover/contracts';
import { ValidationError } from '@drover/service-kit';
import { TypeCompiler } from '@sinclair/typebox/compiler';

/** The form fields a firmware upload may carry besides the image. */
export const FIRMWARE_FORM_FIELDS = [
  'version',
  'device_type',
  'hardware_models',
  'sha256',
  'size',
  'signature',
  'signature_alg',
  'key_id',
  'sigstore_bundle',
] as const;

/** The form part that carries the image. */
export const FIRMWARE_IMAGE_FIELD = 'image';

const known = new Set<string>(FIRMWARE_FORM_FIELDS);
const check = TypeCompiler.Compile(FirmwareDeclaration);

/** Collects one text part; throws for unknown or repeated fields (only models repeat). */
export function addFormField(fields: Map<string, string[]>, name: string, value: string): void {
  if (!known.has(name)) {
    throw new ValidationError(
      'validation_failed',
      `unknown form field "${name}" (fields: ${FIRMWARE_FORM_FIELDS.join(', ')}, file: image)`,
    );
  }
  const values = fields.get(name) ?? [];
  if (values.length > 0 && name !== 'hardware_models') {
    throw new ValidationError('validation_failed', `form field "${name}" given twice`);
  }
  values.push(value);
  fields.set(name, values);
}

/** The declaration of a form upload; throws ValidationError naming the first bad field. */
export function declarationFromForm(fields: ReadonlyMap<string, string[]>): FirmwareDeclaration {
  const out: Record<string, unknown> = {};
  for (const [name, values] of fields) {
    const value = values[0] as string;
    if (name === 'hardware_models') {
      out[name] = values
        .flatMap((v) => v.split(','))
        .map((m) => m.trim())
        .filter(Boolean);
    } else if (name === 'size') {
      if (!/^\d{1,16}$/.test(value.trim())) {
        throw new ValidationError('validation_failed', 'size must be an integer (bytes)');
      }
      out[name] = Number(value.trim());
    } else if (name === 'sigstore_bundle') {
      try {
        out[name] = JSON.parse(value) as unknown;
      } catch (err) {
        throw new ValidationError(
          'validation_failed',
          `sigstore_bundle is not JSON: ${(err as Error).message}`,
        );
      }
    } else {
      out[name] = value.trim();
    }
  }
  out.hardware_models ??= [];
  return checkDeclaration(out);
}

/** Checks a declaration against the contract; the error names the first failing field. */
export function checkDeclaration(value: Record<string, unknown>): FirmwareDeclaration {
  const first = check.Errors(value).First();
  if (first) {
    const field = first.path.replace(/^\//, '') || 'form';
    throw new ValidationError('validation_failed', `${field}: ${first.message}`);
  }
  return value as FirmwareDeclaration;
}
