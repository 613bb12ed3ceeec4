import { testNamespace, withTestBus } from '@drover/testing';
import { BusHealth } from '../../src';

describe('BusHealth', () => {
  it('is true while connected and false once the connection is closed', async () => {
    const bus = await withTestBus(testNamespace('health'), { ensureStreams: false });
    const check = BusHealth(bus);
    try {
      expect(await check()).toBe(true);
    } finally {
      await bus.close();
    }
    expect(await check()).toBe(false);
  });
});
