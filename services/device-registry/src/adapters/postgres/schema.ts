// The database interface of the device_registry schema, for Kysely<DB>.
import { type Kysely, type Transaction } from 'kysely';
import { type DeviceStateTable, type DeviceTable, type DeviceTypeTable } from './device.table';
import { type GroupMemberTable, type GroupTable } from './group.table';

/** Every table the registry owns (the outbox is written through @drover/bus). */
export interface DB {
  /** Devices. */
  devices: DeviceTable;
  /** Device types. */
  device_types: DeviceTypeTable;
  /** Desired/reported state. */
  device_state: DeviceStateTable;
  /** Groups. */
  groups: GroupTable;
  /** Static group members. */
  group_members: GroupMemberTable;
}

/** A connection or a transaction: repositories accept either. */
export type Executor = Kysely<DB> | Transaction<DB>;
