// The orchestrator as its own process for the crash test: the real app and staged shutdown,
// with the test firmware catalog built from OTA_TEST_FIRMWARE (a JSON array of records).
import { runStagedService } from '@drover/service-kit';
import { startOtaOrchestrator } from '../../../src/app';
import { loadOtaConfig } from '../../../src/config';
import { type FirmwareRecord } from '../../../src/firmware/firmware.catalog';
import { testCatalog } from '../rollout.catalog';

const records = JSON.parse(process.env.OTA_TEST_FIRMWARE ?? '[]') as FirmwareRecord[];
const catalog = testCatalog(records);

void runStagedService('ota-orchestrator', loadOtaConfig, (config, deps) =>
  startOtaOrchestrator(config, { ...deps, firmware: catalog.module }),
);
