// Row -> API shape (snake_case, RFC 3339 strings).
import { type Command } from '@drover/contracts';
import { type CommandRow } from '../adapters/postgres/command.table';

const iso = (d: Date | string | null): string | null =>
  d === null ? null : new Date(d).toISOString();

/** The API view of a command row. */
export function toCommand(r: CommandRow): Command {
  return {
    command_id: r.command_id,
    tenant: r.tenant,
    device_id: r.device_id,
    name: r.name,
    params: (r.params ?? {}) as Record<string, unknown>,
    status: r.status,
    attempts: r.attempts,
    created_at: iso(r.created_at)!,
    sent_at: iso(r.sent_at),
    accepted_at: iso(r.accepted_at),
    completed_at: iso(r.completed_at),
    expires_at: iso(r.expires_at)!,
    timeout_s: r.timeout_s,
    result: (r.result ?? null) as Record<string, unknown> | null,
    error: r.error,
    rtt_ms: r.rtt_ms,
    fanout_id: r.fanout_id,
  };
}
