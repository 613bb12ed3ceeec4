import { type Command } from 'commander';
import { createBody } from '../../src/commands/devices.command';
import { buildProgram, run } from '../../src/program';
import { captureIo, closedPort } from '../helpers/capture-io';

function leaf(program: Command, ...names: string[]): Command {
  let cmd = program;
  for (const name of names) {
    const next = cmd.commands.find((c) => c.name() === name);
    if (!next) throw new Error(`no command ${names.join(' ')}`);
    cmd = next;
  }
  return cmd;
}

/** Parses argv with the real option definitions but records the options instead of calling the API. */
async function parsedOptions(args: string[], path: string[]): Promise<Record<string, unknown>> {
  const program = buildProgram(captureIo(process.cwd()));
  const cmd = leaf(program, ...path);
  cmd.action(() => undefined);
  await program.parseAsync(args, { from: 'user' });
  return cmd.opts();
}

describe('argument parsing', () => {
  it('builds the create body from flags, repeated tags and typed attributes', async () => {
    const opts = await parsedOptions(
      [
        'devices',
        'create',
        '--device-type',
        'sensor',
        '--hardware-id',
        'hw-1',
        '--tag',
        'lab,floor-2',
        '--tag',
        'new',
        '--attr',
        'room=b12',
        '--attr',
        'floor=2',
        '--device-id',
        'd-1',
      ],
      ['devices', 'create'],
    );
    expect(createBody(opts as unknown as Parameters<typeof createBody>[0])).toEqual({
      device_type: 'sensor',
      hardware_id: 'hw-1',
      device_id: 'd-1',
      tags: ['lab', 'floor-2', 'new'],
      attributes: { room: 'b12', floor: 2 },
    });
  });

  it('sends only the required fields when nothing else is given', async () => {
    const opts = await parsedOptions(
      ['devices', 'create', '--device-type', 'sensor', '--hardware-id', 'hw-1'],
      ['devices', 'create'],
    );
    expect(createBody(opts as unknown as Parameters<typeof createBody>[0])).toEqual({
      device_type: 'sensor',
      hardware_id: 'hw-1',
    });
  });

  it('gives list filters their names and the common options to every command', async () => {
    const opts = await parsedOptions(
      ['devices', 'list', '--connectivity', 'online', '--limit', '20', '--all', '--json'],
      ['devices', 'list'],
    );
    expect(opts).toMatchObject({ connectivity: 'online', limit: 20, all: true, json: true });
    const program = buildProgram(captureIo(process.cwd()));
    for (const path of [
      ['token'],
      ['devices', 'list'],
      ['devices', 'get'],
      ['devices', 'create'],
    ]) {
      const flags = leaf(program, ...path).options.map((o) => o.long);
      expect(flags).toEqual(expect.arrayContaining(['--api', '--token', '--json']));
    }
  });

  it.each([
    [['devices', 'list', '--connectivity', 'sometimes'], 'Allowed choices are online, offline'],
    [['devices', 'list', '--limit', '0'], 'expected an integer from 1 to 500'],
    [['devices', 'create', '--device-type', 'sensor'], "required option '--hardware-id <id>'"],
    [['devices', 'create', '--device-type', 's', '--hardware-id', 'h', '--attr', 'x'], 'key=value'],
    [['devices', 'get'], "missing required argument 'device-id'"],
    [['devices', 'lst'], '(Did you mean list?)'],
  ])('rejects %p with exit 1 and a message', async (args, message) => {
    const io = captureIo(process.cwd());
    expect(await run(args, io)).toBe(1);
    expect(io.err()).toContain(message);
  });

  it('prints help to stdout with exit 0', async () => {
    const io = captureIo(process.cwd());
    expect(await run(['devices', '--help'], io)).toBe(0);
    expect(io.out()).toContain('list [options]');
  });
});

describe('when the API is not running', () => {
  it('names the URL, suggests npm start and exits 1', async () => {
    const port = await closedPort();
    const io = captureIo(process.cwd());
    expect(await run(['devices', 'list', '--api', `http://127.0.0.1:${port}`], io)).toBe(1);
    expect(io.err()).toBe(
      `cannot reach the Drover API at http://127.0.0.1:${port} (ECONNREFUSED): ` +
        'is the platform running? (npm start)\n',
    );
    expect(io.out()).toBe('');
  });

  it('takes the URL from DROVER_API when --api is absent', async () => {
    const port = await closedPort();
    const io = captureIo(process.cwd(), { DROVER_API: `http://127.0.0.1:${port}/` });
    expect(await run(['devices', 'get', 'd-1'], io)).toBe(1);
    expect(io.err()).toContain(`at http://127.0.0.1:${port} (ECONNREFUSED)`);
  });
});
