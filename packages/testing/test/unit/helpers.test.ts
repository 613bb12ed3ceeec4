import net from 'node:net';
import { NAMESPACE_PATTERN } from '@drover/contracts';
import { freePort, portAccepts, testNamespace, waitFor } from '../../src';

describe('testNamespace', () => {
  it('makes valid, distinct namespaces from any label', () => {
    const a = testNamespace('Device Registry/HTTP-long-label');
    const b = testNamespace('Device Registry/HTTP-long-label');
    expect(a).toMatch(NAMESPACE_PATTERN);
    expect(a).toMatch(/^t_device_registr/);
    expect(a).not.toBe(b);
  });
});

describe('waitFor', () => {
  it('returns the first truthy value', async () => {
    let n = 0;
    await expect(waitFor(() => (++n >= 3 ? n : 0), { intervalMs: 1 })).resolves.toBe(3);
  });

  it('retries through errors and reports the last one on timeout', async () => {
    await expect(
      waitFor(
        () => {
          throw new Error('not yet');
        },
        { timeoutMs: 50, intervalMs: 5, description: 'the thing' },
      ),
    ).rejects.toThrow(/waiting for the thing: not yet/);
  });
});

describe('freePort', () => {
  it('gives a port that can be listened on', async () => {
    const port = await freePort();
    const srv = net.createServer();
    await new Promise<void>((resolve) => srv.listen(port, '127.0.0.1', resolve));
    try {
      expect(await portAccepts(port)).toBe(true);
    } finally {
      await new Promise((resolve) => srv.close(resolve));
    }
    expect(await portAccepts(port)).toBe(false);
  });

  it('never gives one port twice (a broker asks for several listeners at once)', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 300; i += 1) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
  });
});
