// A batch outbox row's text: one JSON line per message, read back as written, whatever the
// payload holds (newlines, quotes and non-ASCII text inside strings stay escaped in their line).
import {
  isOutboxBatch,
  outboxBatch,
  outboxBatchLine,
  outboxRows,
  parseOutboxBatch,
} from '../../src/outbox';

describe('batch outbox rows', () => {
  const rows = outboxRows([
    { subject: 'iot.evt.acme.command.queued', msgId: 'e1', payload: { text: 'a\nb "c" \u2028 é' } },
    {
      subject: 'iot.cmd.acme.d1',
      msgId: 'e2',
      payload: { n: 1, nested: { list: [1, null, 'x'] } },
      headers: { 'Drover-Correlation-Id': 'corr\n1' },
    },
  ]);

  it('reads back every message of a batch text in order, payloads and headers unchanged', () => {
    const text = rows.map(outboxBatchLine).join('\n');
    expect(text.split('\n')).toHaveLength(2);
    expect(parseOutboxBatch(text)).toEqual(
      rows.map((r) => ({
        s: r.subject,
        id: r.event_id,
        h: JSON.parse(r.headers) as unknown,
        p: JSON.parse(r.payload) as unknown,
      })),
    );
  });

  it('reads an empty batch text as no message', () => {
    expect(parseOutboxBatch('')).toEqual([]);
  });

  it('names a batch after its first message, and refuses an empty one', () => {
    const batch = outboxBatch(rows);
    expect(batch.event_id).toBe('batch:e1');
    expect(isOutboxBatch(batch)).toBe(true);
    expect(isOutboxBatch(rows[0]!)).toBe(false);
    expect(() => outboxBatch([])).toThrow('an outbox batch needs a message');
  });
});
