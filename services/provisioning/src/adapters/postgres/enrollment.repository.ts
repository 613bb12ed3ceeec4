// Enrollments and their (hashed) hardware ids.
import { type EnrollmentRow, type Executor } from './schema';

/** Inserts an enrollment and, for individual ones, its hardware keys. */
export async function insertEnrollment(
  db: Executor,
  row: Omit<EnrollmentRow, 'created_at'>,
  hardwareKeys: readonly string[],
): Promise<EnrollmentRow> {
  const inserted = await db
    .insertInto('enrollments')
    .values(row)
    .returningAll()
    .executeTakeFirstOrThrow();
  // Chunks keep the statement under Postgres' bind-parameter limit for large factory batches.
  for (let i = 0; i < hardwareKeys.length; i += 5000) {
    const chunk = hardwareKeys.slice(i, i + 5000);
    await db
      .insertInto('enrollment_hardware')
      .values(chunk.map((hardware_key) => ({ enrollment_id: row.enrollment_id, hardware_key })))
      .execute();
  }
  return inserted;
}

/** Individual enrollments listing the hardware key, and every group enrollment. */
export async function findCandidateEnrollments(
  db: Executor,
  hardwareKey: string,
): Promise<EnrollmentRow[]> {
  return db
    .selectFrom('enrollments')
    .selectAll()
    .where((eb) =>
      eb.or([
        eb('kind', '=', 'group'),
        eb(
          'enrollment_id',
          'in',
          eb
            .selectFrom('enrollment_hardware')
            .select('enrollment_id')
            .where('hardware_key', '=', hardwareKey),
        ),
      ]),
    )
    .orderBy('enrollment_id')
    .execute();
}

/** One page of a tenant's enrollments, keyset on the id. */
export async function listEnrollments(
  db: Executor,
  q: { tenant: string; deviceType?: string | undefined; after?: string | undefined; limit: number },
): Promise<EnrollmentRow[]> {
  let query = db.selectFrom('enrollments').selectAll().where('tenant', '=', q.tenant);
  if (q.deviceType !== undefined) query = query.where('device_type', '=', q.deviceType);
  if (q.after !== undefined) query = query.where('enrollment_id', '>', q.after);
  return query
    .orderBy('enrollment_id')
    .limit(q.limit + 1)
    .execute();
}
