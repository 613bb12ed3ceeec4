// Enrollments, identities, certificates, idempotent answers, timers and the CRL number.
import { type Kysely, sql } from 'kysely';

/** Creates the provisioning tables. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table enrollments (
      enrollment_id text primary key,
      tenant text not null,
      device_type text not null,
      kind text not null check (kind in ('individual', 'group')),
      allow_server_keys boolean not null default false,
      bootstrap_ca_pem text,
      bootstrap_ca_fingerprint text,
      hardware_id_count integer not null default 0,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index enrollments_tenant_idx on enrollments (tenant, enrollment_id)`.execute(db);
  await sql`create index enrollments_group_idx on enrollments (kind) where kind = 'group'`.execute(
    db,
  );
  await sql`
    create table enrollment_hardware (
      enrollment_id text not null references enrollments on delete cascade,
      hardware_key text not null,
      primary key (hardware_key, enrollment_id)
    )`.execute(db);
  await sql`
    create table identities (
      hardware_key text primary key,
      tenant text not null,
      device_id text not null,
      device_type text not null,
      enrollment_id text not null,
      hardware_model text,
      online boolean not null default false,
      last_presence_at timestamptz,
      rotate_requested_at timestamptz,
      decommissioned_at timestamptz,
      created_at timestamptz not null default now(),
      unique (tenant, device_id)
    )`.execute(db);
  await sql`
    create table certificates (
      serial text primary key,
      tenant text not null,
      device_id text not null,
      status text not null check (status in ('active', 'superseded', 'revoked')),
      not_before timestamptz not null,
      not_after timestamptz not null,
      fingerprint_sha256 text not null,
      public_key_sha256 text not null,
      certificate_pem text not null,
      cloud_certificate_id text,
      issued_at timestamptz not null,
      superseded_at timestamptz,
      revoked_at timestamptz,
      revocation_reason text
    )`.execute(db);
  await sql`create index certificates_device_idx on certificates (tenant, device_id)`.execute(db);
  // One active certificate per device: the invariant renewals rely on.
  await sql`create unique index certificates_one_active on certificates (tenant, device_id)
    where status = 'active'`.execute(db);
  await sql`create index certificates_expiry_idx on certificates (not_after)
    where status = 'active'`.execute(db);
  await sql`
    create table request_results (
      request_key text primary key,
      response jsonb not null,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    create table timers (
      name text primary key,
      next_run_at timestamptz not null,
      last_run_at timestamptz
    )`.execute(db);
  await sql`create table crl_state (id integer primary key check (id = 1), crl_number bigint not null)`.execute(
    db,
  );
  await sql`insert into crl_state (id, crl_number) values (1, 0)`.execute(db);
  await sql`insert into timers (name, next_run_at) values ('expiry_scan', now())`.execute(db);
}

/** Drops them. */
export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of [
    'crl_state',
    'timers',
    'request_results',
    'certificates',
    'identities',
    'enrollment_hardware',
    'enrollments',
  ]) {
    await sql`drop table if exists ${sql.table(t)}`.execute(db);
  }
}
