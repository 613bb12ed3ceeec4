import { parseParams } from '../../src/commands/commands.command';
import { buildProgram } from '../../src/program';
import { captureIo } from '../helpers/capture-io';

describe('drover commands', () => {
  it('parses --params as a JSON object and refuses anything else', () => {
    expect(parseParams('{"delay_s": 5}')).toEqual({ delay_s: 5 });
    expect(() => parseParams('[1]')).toThrow('--params must be a JSON object');
    expect(() => parseParams('null')).toThrow('--params must be a JSON object');
    expect(() => parseParams('{bad')).toThrow('--params must be JSON');
  });

  it('offers send (with --params, --wait), get, list, fanout, cancels and progress', async () => {
    const program = buildProgram(captureIo(process.cwd()));
    const group = program.commands.find((c) => c.name() === 'commands')!;
    expect(group.commands.map((c) => c.name())).toEqual([
      'send',
      'get',
      'list',
      'fanout',
      'cancel',
      'cancel-fanout',
      'cancel-device',
      'progress',
    ]);
    const send = group.commands[0]!;
    send.action(() => undefined);
    await program.parseAsync(['commands', 'send', 'd1', 'reboot', '--params', '{}', '--wait'], {
      from: 'user',
    });
    expect(send.processedArgs).toEqual(['d1', 'reboot']);
    expect(send.opts()).toMatchObject({ params: '{}', wait: true });
  });
});
