// Which device traffic an ingress replica handles (INGRESS_ROLE), and which of it the other
// replicas of its share group can take over when it stops. `commands`: the platform → device
// direction (COMMANDS and desired state) and the answers (`cmd/res`); `devices`: everything else
// a device sends (telemetry, statuses, update status, reported state, renewals) and
// provisioning. Run apart, a telemetry flood never delays a command in the same event loop.

/** An ingress replica's role. */
export type IngressRole = 'all' | 'commands' | 'devices';

/** A kind of traffic a role handles. */
export type TrafficKind = 'commands' | 'devices';

/** The traffic kinds of `role`. */
export function roleKinds(role: IngressRole): TrafficKind[] {
  return role === 'all' ? ['commands', 'devices'] : [role];
}

/** What a replica of the share group answered. */
export interface MemberAnswer {
  /** Its id (its MQTT client id base). */
  member: string;
  /** Its role. */
  role: IngressRole;
  /** Whether it is stopping itself. */
  stopping: boolean;
}

/**
 * The traffic kinds of `self` that another replica can take over: one that is up, not stopping,
 * and handles that kind. The stopping replica gives up only those subscriptions; it keeps the
 * rest, and the broker queues for its return.
 */
export function handedOffKinds(
  self: { member: string; role: IngressRole },
  answers: readonly MemberAnswer[],
): Set<TrafficKind> {
  const mine = new Set(roleKinds(self.role));
  const taken = new Set<TrafficKind>();
  for (const a of answers) {
    if (a.member === self.member || a.stopping) continue;
    for (const kind of roleKinds(a.role)) if (mine.has(kind)) taken.add(kind);
  }
  return taken;
}
