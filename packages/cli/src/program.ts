import { Command, CommanderError } from 'commander';
import { type CliIo } from './context';
import { CliError } from './errors';
import { actionRunner } from './commands/command-kit';
import { commandGroups } from './commands';

const VERSION = '0.1.0';

/** Builds a fresh `drover` program whose output goes to `io` (commander objects keep state). */
export function buildProgram(io: CliIo): Command {
  const program = new Command('drover')
    .description('Drover operator CLI: talks to the REST API (npm start runs it locally)')
    .version(VERSION)
    // Program options only before a subcommand: `firmware upload --version 1.4.0` is the
    // firmware's version, not the CLI's.
    .enablePositionalOptions()
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  const run = actionRunner(io);
  for (const register of commandGroups) register(program, io, run);
  // Subcommands inherit exitOverride/output only when set before they are added, so walk them.
  const configure = (cmd: Command): void => {
    cmd.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
    cmd.commands.forEach(configure);
  };
  configure(program);
  return program;
}

/** Runs the CLI with `argv` (user arguments only) and returns the exit code. */
export async function run(args: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...args], { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof CliError) {
      io.stderr(`${err.message}\n`);
      return 1;
    }
    const message = err instanceof Error ? err.message : String(err);
    io.stderr(`error: ${message}\n`);
    if (io.env.DROVER_DEBUG && err instanceof Error && err.stack) io.stderr(`${err.stack}\n`);
    return 1;
  }
}
