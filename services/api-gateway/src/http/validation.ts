// Request validation: one Ajv for bodies (no type coercion: `3` stays a number in attributes,
// whose values may be string, number or boolean), one for query strings, params and headers
// (coerced: they arrive as strings).
import Ajv from 'ajv';
import { type FastifyInstance } from 'fastify';

const common = {
  // Unknown fields are an error, not silently dropped: a typo must not pass unnoticed.
  removeAdditional: false,
  useDefaults: true,
  allErrors: false,
  // TypeBox adds annotations Ajv does not know; they are documentation, not rules.
  strict: false,
} as const;

/** Installs the two-Ajv validator compiler on `app` (and so on every child context). */
export function registerValidation(app: FastifyInstance): void {
  const bodies = new Ajv({ ...common, coerceTypes: false });
  const strings = new Ajv({ ...common, coerceTypes: 'array' });
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? bodies : strings).compile(schema),
  );
}
