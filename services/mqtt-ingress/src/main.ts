import { runService } from '@drover/service-kit';
import { loadIngressConfig } from './config';
import { startMqttIngress } from './app';

runService('mqtt-ingress', async (lifecycle) => {
  const ingress = await startMqttIngress(loadIngressConfig());
  lifecycle.onStop('intake', 'mqtt-ingress', () => ingress.stop());
});
