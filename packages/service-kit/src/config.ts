import { Type, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';

/** One bad environment variable and why. */
export interface ConfigIssue {
  /** The environment variable's name. */
  variable: string;
  /** Why it was rejected, e.g. `required` or `expected integer, got "abc"`. */
  reason: string;
}

/** Thrown by `loadConfig`; the message names every bad variable. */
export class ConfigError extends Error {
  /** Every bad variable, in schema order. */
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(`invalid configuration: ${issues.map((i) => `${i.variable}: ${i.reason}`).join('; ')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/**
 * Variables every service reads. A plain record of property schemas so a service spreads it:
 * `Type.Object({ ...CommonConfig, HTTP_PORT: Type.Integer({ default: 8080 }) })`.
 */
export const CommonConfig = {
  LOG_LEVEL: Type.Union(
    [
      Type.Literal('fatal'),
      Type.Literal('error'),
      Type.Literal('warn'),
      Type.Literal('info'),
      Type.Literal('debug'),
      Type.Literal('trace'),
      Type.Literal('silent'),
    ],
    { default: 'info' },
  ),
  // No defaults for servers: a forgotten URL must fail at start, not reach localhost.
  NATS_URL: Type.String({ minLength: 1 }),
  // Replicas of the streams, key-value buckets and object stores the services create (1–5; >1
  // needs a JetStream cluster). Unset: new ones get 1 and existing ones keep their count.
  NATS_REPLICAS: Type.Optional(Type.Integer({ minimum: 1, maximum: 5 })),
  DATABASE_URL: Type.String({ minLength: 1 }),
  REDIS_URL: Type.String({ minLength: 1 }),
  OPS_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 9464 }),
  DROVER_NAMESPACE: Type.String({ pattern: '^$|^[a-z][a-z0-9_]{0,30}$', default: '' }),
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(Type.String({ minLength: 1 })),
};

/** The common variables as an object schema, for services that need nothing else. */
export const CommonConfigSchema = Type.Object(CommonConfig);
/** The parsed common variables. */
export type CommonConfig = Static<typeof CommonConfigSchema>;

const SENSITIVE = /SECRET|PASSWORD|TOKEN|KEY|CREDENTIAL/i;

/**
 * Reads the variables named by `schema` from `env`: defaults applied, strings converted
 * (`"8080"` → 8080), then checked. An empty variable counts as unset. Throws `ConfigError`
 * listing every bad variable.
 */
export function loadConfig<T extends TObject>(
  schema: T,
  env: Record<string, string | undefined> = process.env,
): Static<T> {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(schema.properties)) {
    const value = env[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  // Value.Default fills the object in place; keep the strings as given for error messages.
  const value = Value.Convert(schema, Value.Default(schema, { ...raw }));
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const [variable, given] of Object.entries(raw)) {
    const reason = strictNumber(schema.properties[variable], given);
    if (reason) {
      seen.add(variable);
      issues.push({ variable, reason: `${reason}${shown(variable, given)}` });
    }
  }
  if (issues.length === 0 && Value.Check(schema, value)) return value;

  for (const error of Value.Errors(schema, value)) {
    const variable = error.path.split('/')[1];
    if (!variable || seen.has(variable)) continue;
    seen.add(variable);
    issues.push({ variable, reason: describe(variable, error, raw[variable]) });
  }
  if (issues.length === 0) issues.push({ variable: '(config)', reason: 'invalid' });
  // Report in schema order whatever check found the problem.
  const order = Object.keys(schema.properties);
  issues.sort((a, b) => order.indexOf(a.variable) - order.indexOf(b.variable));
  throw new ConfigError(issues);
}

// Value.Convert truncates "1.5" to an integer and reads "1e3" as a number; a config value
// that is not written as a plain number is a mistake worth failing on.
function strictNumber(schema: TSchema | undefined, given: unknown): string | undefined {
  if (typeof given !== 'string' || !schema) return undefined;
  const type = (schema as { type?: unknown }).type;
  if (type === 'integer' && !/^[+-]?\d+$/.test(given)) return 'expected integer';
  if (type === 'number' && !/^[+-]?(\d+\.?\d*|\.\d+)$/.test(given)) return 'expected number';
  return undefined;
}

function describe(variable: string, error: ValueError, rawValue: unknown): string {
  if (rawValue === undefined) return 'required';
  return `${expectation(error)}${shown(variable, rawValue)}`;
}

// Error messages end up in logs: secrets are not echoed, and a URL loses its password.
function shown(variable: string, value: unknown): string {
  if (SENSITIVE.test(variable)) return '';
  const text = typeof value === 'string' ? value.replace(/(\/\/[^/:@]*:)[^/@]*@/, '$1***@') : value;
  return `, got ${JSON.stringify(text)}`;
}

function expectation(error: ValueError): string {
  const schema = error.schema as TSchema & {
    anyOf?: { const?: unknown }[];
    type?: string;
  };
  if (schema.anyOf?.every((s) => s.const !== undefined)) {
    return `expected one of ${schema.anyOf.map((s) => String(s.const)).join(', ')}`;
  }
  switch (error.type) {
    case ValueErrorType.Integer:
      return 'expected integer';
    case ValueErrorType.Number:
      return 'expected number';
    case ValueErrorType.Boolean:
      return 'expected boolean';
    default:
      return error.message.charAt(0).toLowerCase() + error.message.slice(1);
  }
}
