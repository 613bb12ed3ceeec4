import { runService } from '@drover/service-kit';
import { loadIngestConfig } from './config';
import { startTelemetryIngest } from './app';

runService('telemetry-ingest', async (lifecycle) => {
  const ingest = await startTelemetryIngest(loadIngestConfig());
  lifecycle.onStop('drain', 'telemetry-ingest', () => ingest.stop());
});
