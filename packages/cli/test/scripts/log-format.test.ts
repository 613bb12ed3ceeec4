import { stripVTControlCharacters } from 'node:util';
import { createLogFormatter, parseLogLine, useColor } from '../../../../scripts/lib/log-format.mjs';

const time = Date.parse('2026-11-26T06:01:02Z');
const hhmmss = new Date(time).toTimeString().slice(0, 8);

describe('log formatting for npm start', () => {
  const format = createLogFormatter(['device-registry', 'api-gateway']);

  it('prints pino JSON as time, service, level, message and key=value fields', () => {
    const line = JSON.stringify({
      level: 30,
      time,
      pid: 42,
      hostname: 'box',
      service: 'api-gateway',
      event: 'http.listening',
      port: 8080,
      msg: 'listening',
    });
    expect(format('api-gateway', line)).toBe(
      `${hhmmss} api-gateway     info  listening event=http.listening port=8080`,
    );
  });

  it('quotes values with spaces, shows objects as JSON and indents error stacks', () => {
    const line = JSON.stringify({
      level: 50,
      time,
      msg: 'query failed',
      detail: 'a b',
      changes: { tags: ['x'] },
      err: { type: 'Error', message: 'db down', stack: 'Error: db down\n    at q (x.ts:1)' },
    });
    expect(format('device-registry', line).split('\n')).toEqual([
      `${hhmmss} device-registry error query failed detail="a b" changes={"tags":["x"]} err="db down"`,
      '    Error: db down',
      '        at q (x.ts:1)',
    ]);
  });

  it('accepts level labels and ISO times', () => {
    const out = format(
      'api-gateway',
      '{"level":"warn","time":"2026-11-26T06:01:02Z","msg":"slow"}',
    );
    expect(out).toBe(`${hhmmss} api-gateway     warn  slow`);
  });

  it('passes other lines through behind the service name', () => {
    expect(format('api-gateway', 'Debugger listening')).toMatch(
      /^\d\d:\d\d:\d\d api-gateway +Debugger listening$/,
    );
    expect(parseLogLine('{"half": ')).toBeNull();
    expect(parseLogLine('{"no_level": 1}')).toBeNull();
  });

  it('colors the service name per service only when asked', () => {
    const colored = createLogFormatter(['a', 'b'], { color: true });
    const a = colored('a', 'x');
    const b = colored('b', 'x');
    expect(a).toContain('\x1b[');
    expect(stripVTControlCharacters(a)).toMatch(/ a +x$/);
    // The name column (second field) starts with the service's color code, 5 characters.
    const code = (line: string): string | undefined => line.split(' ')[1]?.slice(0, 5);
    expect(['\x1b[36m', '\x1b[35m']).toContain(code(a));
    expect(code(a)).not.toBe(code(b));
  });

  it('colors a terminal unless NO_COLOR', () => {
    expect(useColor({ isTTY: true }, {})).toBe(true);
    expect(useColor({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(useColor({ isTTY: false }, {})).toBe(false);
    expect(useColor({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
  });
});
