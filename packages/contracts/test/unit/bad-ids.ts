// Ids that must never reach a subject or topic level.
export const BAD_IDS: unknown[] = [
  'a/b',
  '+',
  '#',
  '$x',
  'a.b',
  '*',
  '>',
  'a b',
  ' ',
  '',
  'x'.repeat(65),
  'tab\t',
  'ü',
  undefined,
  null,
  42,
];

/** Ids that are fine. */
export const GOOD_IDS = ['a', 'A-z_09', 'd-01hx', 'x'.repeat(64), '_', '-'];
