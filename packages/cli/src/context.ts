import { type Command, Option } from 'commander';

/** Where a command writes and what it reads from its surroundings (swapped in tests). */
export interface CliIo {
  /** Standard output: data a script may capture (tables, JSON, the token). */
  stdout: (text: string) => void;
  /** Standard error: notes and errors for the operator. */
  stderr: (text: string) => void;
  /** The environment (DROVER_API, DROVER_TOKEN). */
  env: NodeJS.ProcessEnv;
  /** The working directory the repository root is searched from. */
  cwd: string;
}

/** The options every command takes. */
export interface CommonOptions {
  /** The API base URL, without the /api/v1 prefix. */
  api: string;
  /** The bearer token, if any. */
  token: string | undefined;
  /** Print the raw JSON instead of a table. */
  json: boolean;
}

export const DEFAULT_API = 'http://127.0.0.1:8080';

/** Adds --api, --token and --json to a command; called for every leaf command. */
export function addCommonOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--api <url>', `API base URL (default: $DROVER_API or ${DEFAULT_API})`))
    .addOption(new Option('--token <jwt>', 'bearer token (default: $DROVER_TOKEN)'))
    .addOption(new Option('--json', 'print the raw JSON instead of a table'));
}

/** Resolves the common options against the environment. */
export function resolveCommon(
  opts: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): CommonOptions {
  const api = (opts.api as string | undefined) ?? env.DROVER_API ?? DEFAULT_API;
  const token = (opts.token as string | undefined) ?? (env.DROVER_TOKEN || undefined);
  return { api: api.replace(/\/+$/, ''), token, json: opts.json === true };
}

export function processIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
  };
}
