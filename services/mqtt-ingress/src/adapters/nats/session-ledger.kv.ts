// The session ledger (domain/session-ledger.ts) in a JetStream key-value bucket: one key per
// replica (its member name), written with compare-and-set where two replicas could race.
import { JSONCodec, type KV } from 'nats';
import { type Bus, ensureStoreReplicas } from '@drover/bus';
import { type Naming } from '@drover/contracts';
import { type LedgerEntry, type StoredEntry } from '../../domain/session-ledger';

/** The ledger's bucket (a stream `KV_<bucket>`), under the namespace like the streams. */
export const ledgerBucket = (naming: Naming): string => naming.stream('INGRESS_SESSIONS');

/** The ledger operations the ingress needs. */
export interface SessionLedger {
  /** The entry of `member`, if any. */
  read(member: string): Promise<StoredEntry | undefined>;
  /** Every entry. */
  list(): Promise<StoredEntry[]>;
  /** Writes the replica's own entry (it alone writes it while it runs); the new revision. */
  put(entry: LedgerEntry): Promise<number>;
  /** Writes `entry` only if the stored revision is still `revision`: the new one, else null. */
  update(entry: LedgerEntry, revision: number): Promise<number | null>;
  /** Deletes `member`'s entry only if its revision is still `revision`; false if it changed. */
  remove(member: string, revision: number): Promise<boolean>;
}

const codec = JSONCodec<LedgerEntry>();

/** A compare-and-set that lost: the server answers "wrong last sequence". */
function lostRace(err: unknown): boolean {
  return err instanceof Error && /wrong last sequence/i.test(err.message);
}

/** Opens (creating if needed) the ledger's bucket. */
export async function openSessionLedger(bus: Bus, naming: Naming): Promise<SessionLedger> {
  const bucket = ledgerBucket(naming);
  const kv: KV = await bus.js.views.kv(bucket, {
    history: 1,
    ...(bus.replicas !== undefined && { replicas: bus.replicas }),
  });
  await ensureStoreReplicas(bus, 'kv', bucket);
  const read = async (member: string): Promise<StoredEntry | undefined> => {
    const e = await kv.get(member);
    if (e === null || e.operation !== 'PUT') return undefined;
    return { entry: codec.decode(e.value), revision: e.revision };
  };
  return {
    read,
    async list() {
      const members: string[] = [];
      for await (const k of await kv.keys()) members.push(k);
      const entries = await Promise.all(members.map(read));
      return entries.filter((e): e is StoredEntry => e !== undefined);
    },
    put: (entry) => kv.put(entry.member, codec.encode(entry)),
    async update(entry, revision) {
      try {
        return await kv.update(entry.member, codec.encode(entry), revision);
      } catch (err) {
        if (lostRace(err)) return null;
        throw err;
      }
    },
    async remove(member, revision) {
      try {
        await kv.delete(member, { previousSeq: revision });
        return true;
      } catch (err) {
        if (lostRace(err)) return false;
        throw err;
      }
    },
  };
}
