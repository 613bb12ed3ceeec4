export {
  createDb,
  createPool,
  executePrepared,
  poolOf,
  assertSchemaName,
  type DbOptions,
} from './create-db';
export { migrate, dropSchema, ObjectMigrationProvider, type MigrateOptions } from './migrate';
export { isTransientDbError } from './transient';
