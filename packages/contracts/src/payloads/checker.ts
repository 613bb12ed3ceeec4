import { type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { type ValueError, ValueErrorType } from '@sinclair/typebox/errors';

/** Where a value first failed its schema. */
export interface SchemaIssue {
  /** JSON pointer of the offending value (`''` = the whole value). */
  path: string;
  /** What was expected there. */
  message: string;
}

/** A schema compiled once at module load, for the hot path. */
export interface Checker<T extends TSchema> {
  /** The TypeBox schema (for OpenAPI and docs). */
  readonly schema: T;
  /** Fast boolean check (narrows the type). */
  check(value: unknown): value is Static<T>;
  /** The first issue, or `null` when the value is valid. Slower: use on the rejection path. */
  firstError(value: unknown): SchemaIssue | null;
}

/** Compiles `schema` with `TypeCompiler` (do this once, at module load). */
export function compileChecker<T extends TSchema>(schema: T): Checker<T> {
  const compiled = TypeCompiler.Compile(schema);
  return {
    schema,
    check: (value): value is Static<T> => compiled.Check(value),
    firstError: (value) => {
      const first = compiled.Errors(value).First();
      return first === undefined ? null : resolveIssue(first);
    },
  };
}

/** `"<path>: <message>"`, `/` for the root; the one-line form used in reject details. */
export function formatIssue(issue: SchemaIssue): string {
  return `${issue.path === '' ? '/' : issue.path}: ${issue.message}`;
}

// A union error only says "Expected union value". Pick the variant the value was evidently
// aiming at (the one not failing on a literal discriminator such as `state` or `status`) and
// report its first error instead, so devices get an actionable reason.
function resolveIssue(error: ValueError, depth = 0): SchemaIssue {
  if (error.type !== ValueErrorType.Union || depth > 8) {
    return { path: error.path, message: error.message };
  }
  const candidates: ValueError[][] = [];
  for (const iterator of error.errors) {
    const errs: ValueError[] = [];
    for (const e of iterator) {
      errs.push(e);
      if (errs.length >= 32) break;
    }
    if (errs.length > 0 && !errs.some((e) => e.type === ValueErrorType.Literal)) {
      candidates.push(errs);
    }
  }
  if (candidates.length === 1) return resolveIssue(candidates[0]![0]!, depth + 1);
  // Alternatives for the same value (string or integer, number or boolean or string): list them.
  const here = candidates.map((errs) => errs[0]!).filter((e) => e.path === error.path);
  if (here.length > 0 && here.length === candidates.length) {
    const messages = [...new Set(here.map((e) => e.message))];
    return { path: error.path, message: messages.join(' or ') };
  }
  return { path: error.path, message: 'Expected a value matching one of the allowed shapes' };
}
