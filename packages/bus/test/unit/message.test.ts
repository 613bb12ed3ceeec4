import { subjectMatches } from '../../src/message';
import { Slots } from '../../src/slots';

describe('subjectMatches', () => {
  it.each([
    ['a.b.c', 'a.b.c', true],
    ['a.*.c', 'a.x.c', true],
    ['a.*.c', 'a.x.d', false],
    ['a.>', 'a.b.c', true],
    ['a.>', 'a', false],
    ['a.b', 'a.b.c', false],
    ['a.b.c', 'a.b', false],
  ])('%s vs %s -> %s', (pattern, subject, expected) => {
    expect(subjectMatches(pattern, subject)).toBe(expected);
  });
});

describe('Slots', () => {
  it('counts free slots and wakes a waiter when one is released', async () => {
    const slots = new Slots(2);
    slots.take();
    slots.take();
    expect(slots.free).toBe(0);
    let woke = false;
    const waiting = slots.waitFree().then(() => (woke = true));
    await Promise.resolve();
    expect(woke).toBe(false);
    slots.release();
    await waiting;
    expect(woke).toBe(true);
    expect(slots.free).toBe(1);
  });

  it('waitIdle resolves once every slot is back', async () => {
    const slots = new Slots(3);
    slots.take();
    slots.take();
    const idle = slots.waitIdle();
    slots.release();
    expect(slots.inUse).toBe(1);
    slots.release();
    await idle;
    expect(slots.inUse).toBe(0);
  });
});
