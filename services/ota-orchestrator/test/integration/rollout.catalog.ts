// A tiny FirmwareCatalog for the rollout tests: records in memory, and a way to make a record's
// re-verification fail with the registry's error codes (the real registry's checks have their
// own tests).
import { ulid } from 'ulid';
import { NotFoundError, ValidationError } from '@drover/service-kit';
import { type FirmwareModuleFactory } from '../../src/app';
import { type FirmwareCatalog, type FirmwareRecord } from '../../src/firmware/firmware.catalog';

/** The catalog plus test controls. */
export interface TestCatalog extends FirmwareCatalog {
  /** Adds a record (version 2.0.0 for sensor rev-b by default). */
  add(over?: Partial<FirmwareRecord>): FirmwareRecord;
  /** reverify() of that record throws this code from now on. */
  breakWith(firmwareId: string, code: string): void;
  /** How often reverify ran. */
  reverified: number;
  /** As a firmware module for startOtaOrchestrator. */
  module: FirmwareModuleFactory;
}

/** A new, empty catalog. */
export function testCatalog(records: FirmwareRecord[] = []): TestCatalog {
  const byId = new Map(records.map((r) => [r.firmware_id, r]));
  const broken = new Map<string, string>();
  const cat: TestCatalog = {
    reverified: 0,
    add(over = {}) {
      const r: FirmwareRecord = {
        firmware_id: ulid(),
        tenant: 'acme',
        version: '2.0.0',
        device_type: 'sensor',
        hardware_models: ['rev-b'],
        sha256: 'ab'.repeat(32),
        size: 1024,
        signature: `${'A'.repeat(86)}==`,
        signature_alg: 'ed25519',
        key_id: 'test-key',
        created_at: new Date().toISOString(),
        ...over,
      };
      byId.set(r.firmware_id, r);
      return r;
    },
    breakWith(id, code) {
      broken.set(id, code);
    },
    findByVersion(tenant, deviceType, version) {
      const r = [...byId.values()].find(
        (x) => x.tenant === tenant && x.device_type === deviceType && x.version === version,
      );
      return Promise.resolve(r ?? null);
    },
    get(tenant, id) {
      const r = byId.get(id);
      return Promise.resolve(r !== undefined && r.tenant === tenant ? r : null);
    },
    reverify(record) {
      cat.reverified++;
      const code = broken.get(record.firmware_id);
      if (code === undefined) return Promise.resolve();
      return Promise.reject(
        code === 'firmware_artifact_missing'
          ? new NotFoundError(code, `artifact of ${record.firmware_id} is gone`)
          : new ValidationError(code, `re-verification of ${record.firmware_id}: ${code}`),
      );
    },
    downloadUrl(record, deviceId, ttl) {
      const exp = Math.floor(Date.now() / 1000) + ttl;
      return Promise.resolve(
        `http://127.0.0.1:8090/firmware/${record.firmware_id}?device=${deviceId}&exp=${exp}`,
      );
    },
    module: () => Promise.resolve({ catalog: cat, endpoints: {} }),
  };
  return cat;
}
