// The ingress replicas of one MQTT share group answer each other over core NATS: up, and
// whether stopping. A replica's broker sessions are persistent, and brokers (Mosquitto, EMQX,
// VerneMQ) keep handing a disconnected persistent session its turn of a shared subscription:
// that share of the device traffic (telemetry, command answers, statuses) waits in the session
// until the same client id connects again. So a stopping replica gives up its subscriptions
// (hands its share to the others) when another replica is up and not stopping, as in a rolling
// update or a scale-down; the last one keeps them, and the broker queues for its return.
//
// Each replica marks itself stopping before it asks, so of two stopping at once the later
// asker sees the earlier one stopping: at least one of them keeps its subscriptions.
import { JSONCodec, RequestStrategy, type Subscription } from 'nats';
import { type Bus } from '@drover/bus';
import { ingressMembersSubject, type Naming } from '@drover/contracts';
import { type Logger } from '@drover/observability';

/** What a replica answers. */
interface MemberAnswer {
  member: string;
  stopping: boolean;
}

/** This replica's membership. */
export interface ShareGroupMembership {
  /**
   * Marks this replica stopping (its answers say so from now on) and asks the others: true when
   * at least one other replica answered within the wait that it is up and not stopping.
   */
  leaving(): Promise<boolean>;
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
      if (msg.reply) msg.respond(codec.encode({ member: opts.member, stopping }));
    },
  });
  return {
    async leaving() {
      stopping = true;
      try {
        // Our own subscription answers too, so the request never meets "no responders".
        const answers = await opts.bus.nc.requestMany(subject, undefined, {
          strategy: RequestStrategy.Timer,
          maxWait: opts.waitMs,
          // Its own inbox: the muxed one would be shared with the bus's other requests.
          noMux: true,
        });
        for await (const m of answers) {
          const a = codec.decode(m.data);
          if (a.member !== opts.member && !a.stopping) return true;
        }
      } catch (err) {
        opts.logger.warn(
          { event: 'ingress.members_unknown', err: String(err) },
          'could not ask the other replicas; keeping the subscriptions',
        );
      }
      return false;
    },
    close() {
      sub.unsubscribe();
    },
  };
}
