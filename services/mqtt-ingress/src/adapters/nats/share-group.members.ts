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
import { JSONCodec, RequestStrategy, type Subscription } from 'nats';
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
      const answers: MemberAnswer[] = [];
      try {
        // Our own subscription answers too, so the request never meets "no responders".
        const replies = await opts.bus.nc.requestMany(subject, undefined, {
          strategy: RequestStrategy.Timer,
          maxWait: opts.waitMs,
          // Its own inbox: the muxed one would be shared with the bus's other requests.
          noMux: true,
        });
        for await (const m of replies) {
          answers.push(codec.decode(m.data));
          // Everything can be handed over: no need to wait for more answers.
          if (handedOffKinds(self, answers).size === all) break;
        }
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
