import { processIo } from './context';
import { run } from './program';

export { run, buildProgram } from './program';
export { createApiClient, buildUrl, type ApiClient, type ApiRequest } from './api-client';
export { ApiError, CliError, ConnectionError } from './errors';
export { type CliIo, type CommonOptions } from './context';

/** Entry point of bin/drover.js: `process.argv` in, exit code out. */
export function main(argv: readonly string[]): Promise<number> {
  return run(argv.slice(2), processIo());
}
