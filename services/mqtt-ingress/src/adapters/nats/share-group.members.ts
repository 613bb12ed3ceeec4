// The ingress replicas of one MQTT share group answer each other over core NATS: up, their
// role, and whether stopping. A replica's broker sessions are persistent, and brokers
// (Mosquitto, EMQX, VerneMQ) keep handing a disconnected persistent session its turn of a shared
// subscription: that share of the device traffic (telemetry, command answers, statuses) waits in
// the session until the same client id connects again. So a stopping replica gives up its
// subscriptions (hands its share to the others) of each kind of traffic another replica that is
// up and not stopping handles (domain/ingress-role.ts), as in a rolling update or a scale-down;
// the last one keeps them, and the broker queues for its return.
//
// Each replica marks itself stopping before it asks, so of two stopping at once the later
// asker sees the earlier one stopping: at least one of them keeps its subscriptions.
import { ErrorCode, JSONCodec, NatsError, RequestStrategy, type Subscription } from 'nats';
import { type Bus } from '@drover/bus';
import { ingressMembersSubject, type Naming } from '@drover/contracts';
import { type Logger } from '@drover/observability';
import {
  handedOffKinds,
  type IngressRole,
  type MemberAnswer,
  roleKinds,
  type TrafficKind,
} from '../../domain/ingress-role';

/** This replica's membership. */
export interface ShareGroupMembership {
  /**
   * Marks this replica stopping (its answers say so from now on) and asks the others: the kinds
   * of its traffic that another replica, up and not stopping, answered within the wait to handle.
   */
  leaving(): Promise<Set<TrafficKind>>;
  /** Stops answering. */
  close(): void;
}

const codec = JSONCodec<MemberAnswer>();

/** Joins `group`'s membership on the bus as `member` (unique per replica: its client id). */
export function joinShareGroup(opts: {
  bus: Bus;
  naming: Naming;
  group: string;
  member: string;
  role: IngressRole;
  /** How long `leaving` waits for answers. */
  waitMs: number;
  logger: Logger;
}): ShareGroupMembership {
  const subject = ingressMembersSubject(opts.naming, opts.group);
  let stopping = false;
  const sub: Subscription = opts.bus.nc.subscribe(subject, {
    callback: (err, msg) => {
      if (err !== null) {
        opts.logger.warn({ event: 'ingress.members_failed', err: String(err) }, 'members');
        return;
      }
      if (msg.reply) msg.respond(codec.encode({ member: opts.member, role: opts.role, stopping }));
    },
  });
  return {
    async leaving() {
      stopping = true;
      const self = { member: opts.member, role: opts.role };
      const all = roleKinds(opts.role).length;
      let answers: MemberAnswer[] = [];
      try {
        // Our own subscription answers too, so the request never meets "no responders".
        // Enough once everything can be handed over: no need to wait for more answers.
        answers = await askMembers(opts.bus, subject, opts.waitMs, (got) => {
          return handedOffKinds(self, got).size === all;
        });
      } catch (err) {
        opts.logger.warn(
          { event: 'ingress.members_unknown', err: String(err) },
          'could not ask the other replicas; keeping the subscriptions',
        );
        return new Set();
      }
      return handedOffKinds(self, answers);
    },
    close() {
      sub.unsubscribe();
    },
  };
}

/**
 * The answers of the replicas of the group on `subject` within `waitMs` (until `enough` says so).
 * Throws "no responders" when none is subscribed.
 */
async function askMembers(
  bus: Bus,
  subject: string,
  waitMs: number,
  enough: (answers: MemberAnswer[]) => boolean = () => false,
): Promise<MemberAnswer[]> {
  const answers: MemberAnswer[] = [];
  const replies = await bus.nc.requestMany(subject, undefined, {
    strategy: RequestStrategy.Timer,
    maxWait: waitMs,
    // Its own inbox: the muxed one would be shared with the bus's other requests.
    noMux: true,
  });
  for await (const m of replies) {
    answers.push(codec.decode(m.data));
    if (enough(answers)) break;
  }
  return answers;
}

/**
 * Refuses to start a replica whose member name (MQTT_CLIENT_ID) a running replica of the group,
 * not stopping, already answers with: the two would take each other's broker connections over
 * without end (`docker compose --scale`, a copied setting). Asked before this one answers.
 */
export async function assertMemberUnique(opts: {
  bus: Bus;
  naming: Naming;
  group: string;
  member: string;
  waitMs: number;
}): Promise<void> {
  const subject = ingressMembersSubject(opts.naming, opts.group);
  let answers: MemberAnswer[];
  try {
    answers = await askMembers(opts.bus, subject, opts.waitMs, (got) =>
      got.some((a) => a.member === opts.member && !a.stopping),
    );
  } catch (err) {
    // Nobody answers: no replica runs, so none runs under this name.
    if (isNoResponders(err)) return;
    throw err;
  }
  if (answers.some((a) => a.member === opts.member && !a.stopping)) {
    throw new DuplicateMemberError(opts.member, opts.group);
  }
}

/** A running replica already uses this replica's MQTT_CLIENT_ID. */
export class DuplicateMemberError extends Error {
  constructor(member: string, group: string) {
    super(
      `MQTT_CLIENT_ID ${member} is in use by a running ingress replica of share group ${group}: ` +
        'give each replica its own (docs/telemetry.md)',
    );
    this.name = 'DuplicateMemberError';
  }
}

function isNoResponders(err: unknown): boolean {
  return err instanceof NatsError && err.code === ErrorCode.NoResponders;
}
