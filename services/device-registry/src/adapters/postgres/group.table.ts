// Typed tables for groups (kysely style).
import { type ColumnType, type Selectable } from 'kysely';
import { type GroupFilter } from '@drover/contracts';

/** `groups`: static (members in group_members) or dynamic (filter). */
export interface GroupTable {
  /** Owning tenant. */
  tenant: string;
  /** Group id. */
  group_id: string;
  /** Display name. */
  name: string;
  /** Description or null. */
  description: string | null;
  /** `static` or `dynamic`. */
  kind: 'static' | 'dynamic';
  /** Filter of a dynamic group. */
  filter: ColumnType<GroupFilter | null, string | null, string | null>;
  /** Creation time. */
  created_at: ColumnType<Date, Date | string | undefined, never>;
}

/** `group_members`: members of static groups. */
export interface GroupMemberTable {
  /** Owning tenant. */
  tenant: string;
  /** Group id. */
  group_id: string;
  /** Member device id. */
  device_id: string;
  /** When added. */
  added_at: ColumnType<Date, Date | string | undefined, never>;
}

/** A group row as read. */
export type GroupRow = Selectable<GroupTable>;
