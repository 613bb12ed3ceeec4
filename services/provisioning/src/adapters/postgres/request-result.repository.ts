// Answers of provisioning and renewal requests, so a retried request gets the same answer.
// A server-generated `private_key` never reaches the table in plaintext: it is stored as
// `private_key_sealed` (AES-256-GCM, see adapters/crypto/result-cipher) and opened on replay.
import { type ResultCipher, type SealedSecret } from '../crypto/result-cipher';
import { type Executor } from './schema';

/** What the stored answer of a request key can be opened with. */
export type ResultSecrets = Pick<ResultCipher, 'seal' | 'open'>;

type Answer = Record<string, unknown>;

function isAnswer(v: unknown): v is Answer {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The answer as stored: `private_key` replaced by its sealed form. */
export function sealAnswer(response: unknown, key: string, cipher: ResultSecrets): unknown {
  if (!isAnswer(response) || typeof response.private_key !== 'string') return response;
  const { private_key: privateKey, ...rest } = response;
  return { ...rest, private_key_sealed: cipher.seal(privateKey, key) };
}

/** The answer as sent: `private_key_sealed` opened back into `private_key`. */
export function openAnswer(stored: unknown, key: string, cipher: ResultSecrets): unknown {
  if (!isAnswer(stored) || !isAnswer(stored.private_key_sealed)) return stored;
  const { private_key_sealed: sealed, ...rest } = stored;
  return { ...rest, private_key: cipher.open(sealed as unknown as SealedSecret, key) };
}

/**
 * The stored answer for a request key, if any. An answer sealed with a key this service no
 * longer has (rotated PROVISIONING_RESULT_KEY) is reported through `onUnreadable` and treated
 * as absent: the retry is then handled as a new request.
 */
export async function findResult(
  db: Executor,
  key: string,
  cipher: ResultSecrets,
  onUnreadable?: (err: Error) => void,
): Promise<unknown> {
  const row = await db
    .selectFrom('request_results')
    .select('response')
    .where('request_key', '=', key)
    .executeTakeFirst();
  if (row === undefined) return undefined;
  try {
    return openAnswer(row.response, key, cipher);
  } catch (err) {
    onUnreadable?.(err as Error);
    return undefined;
  }
}

/** Stores an answer (first writer wins), its private key sealed. */
export async function saveResult(
  db: Executor,
  key: string,
  response: unknown,
  cipher: ResultSecrets,
): Promise<void> {
  await db
    .insertInto('request_results')
    .values({ request_key: key, response: JSON.stringify(sealAnswer(response, key, cipher)) })
    .onConflict((oc) => oc.column('request_key').doNothing())
    .execute();
}

/** Deletes answers older than `before`; returns how many. */
export async function purgeResults(db: Executor, before: Date): Promise<number> {
  const r = await db
    .deleteFrom('request_results')
    .where('created_at', '<', before)
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}
