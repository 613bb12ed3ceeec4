// foldReports: arrival-order folding of a batch's reports onto their rows (every branch).
import { applyAnswer, type CommandStatus, type DeviceAnswer } from '../../src/domain/command-state';
import { foldReports, type FoldSpec } from '../../src/domain/report-fold';

interface Row {
  id: string;
  device: string;
  status: CommandStatus;
}
interface Report {
  id: string;
  device: string;
  answer: DeviceAnswer;
}

const spec: FoldSpec<Row, Report, string> = {
  rowKey: (r) => r.id,
  reportKey: (p) => p.id,
  owns: (r, p) => r.device === p.device,
  decide: (row, p) => {
    const t = applyAnswer(row.status, p.answer);
    if (t.kind === 'ignore') return { ignore: t.reason };
    return { row: { ...row, status: t.to }, effect: `${row.id}:${t.to}` };
  },
};

const fold = (rows: Row[], reports: Report[]) => foldReports(rows, reports, spec);

describe('foldReports', () => {
  it('folds several reports of one command in arrival order into one write', () => {
    const f = fold(
      [{ id: 'a', device: 'd', status: 'sent' }],
      [
        { id: 'a', device: 'd', answer: 'accepted' },
        { id: 'a', device: 'd', answer: 'accepted' },
        { id: 'a', device: 'd', answer: 'succeeded' },
        { id: 'a', device: 'd', answer: 'succeeded' },
      ],
    );
    expect(f.verdicts).toEqual([
      { kind: 'moved', effect: 'a:accepted' },
      { kind: 'ignored', reason: 'duplicate' },
      { kind: 'moved', effect: 'a:succeeded' },
      { kind: 'ignored', reason: 'duplicate' },
    ]);
    expect(f.writes).toEqual([
      {
        read: { id: 'a', device: 'd', status: 'sent' },
        final: { id: 'a', device: 'd', status: 'succeeded' },
        effects: ['a:accepted', 'a:succeeded'],
        reports: [0, 1, 2, 3],
      },
    ]);
  });

  it('refuses reports about a missing row or another device; other rows still fold', () => {
    const f = fold(
      [
        { id: 'b', device: 'd', status: 'accepted' },
        { id: 'a', device: 'd', status: 'sent' },
      ],
      [
        { id: 'x', device: 'd', answer: 'succeeded' },
        { id: 'a', device: 'other', answer: 'succeeded' },
        { id: 'a', device: 'd', answer: 'failed' },
        { id: 'b', device: 'd', answer: 'succeeded' },
      ],
    );
    expect(f.verdicts.map((v) => v.kind)).toEqual(['unknown', 'unknown', 'moved', 'moved']);
    expect(f.writes.map((w) => [w.read.id, w.final.status, w.reports])).toEqual([
      ['a', 'failed', [2]],
      ['b', 'succeeded', [3]],
    ]);
  });

  it('an ignore before the first move is final and not tied to any write', () => {
    const f = fold(
      [
        { id: 'a', device: 'd', status: 'succeeded' },
        { id: 'b', device: 'd', status: 'accepted' },
      ],
      [
        { id: 'a', device: 'd', answer: 'failed' },
        { id: 'b', device: 'd', answer: 'accepted' },
        { id: 'b', device: 'd', answer: 'rejected' },
      ],
    );
    expect(f.verdicts).toEqual([
      { kind: 'ignored', reason: 'late' },
      { kind: 'ignored', reason: 'duplicate' },
      { kind: 'moved', effect: 'b:rejected' },
    ]);
    expect(f.writes).toHaveLength(1);
    expect(f.writes[0]!.reports).toEqual([2]);
  });

  it('an empty batch writes nothing', () => {
    expect(fold([], [])).toEqual({ verdicts: [], writes: [] });
  });
});
