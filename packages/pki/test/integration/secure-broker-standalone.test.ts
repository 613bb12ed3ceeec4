// The path `npm start` takes: prepareSecureBroker's mosquitto.conf run as is (no test helper
// around it), a device with a fleet certificate and the ingress identity from the written files.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, serverProcess, waitFor, type ServerProcess } from '@drover/testing';
import { FileSecretStore, prepareSecureBroker, type SecureBroker } from '@drover/pki';
import { clientCert, closeAll, collect, connectTls, publish, waitForTls } from './broker.harness';

let tmp: string;
let broker: SecureBroker;
let proc: ServerProcess;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'drover-secure-standalone-'));
  broker = await prepareSecureBroker({
    dir: path.join(tmp, 'broker'),
    store: new FileSecretStore(path.join(tmp, 'secrets')),
    fleetPort: await freePort(),
    provisioningPort: await freePort(),
    platformPort: await freePort(),
  });
  proc = serverProcess({
    command: '/usr/sbin/mosquitto',
    args: ['-c', broker.configPath],
    port: broker.ports.platform,
  });
  await proc.start();
  await waitForTls(broker);
});

afterAll(async () => {
  await closeAll();
  await proc?.stop();
  await rm(tmp, { recursive: true, force: true });
});

it('a fleet device reaches the ingress, which uses the written identity and share group', async () => {
  const [cert, key] = await Promise.all([
    readFile(broker.files.ingressCertFile, 'utf8'),
    readFile(broker.files.ingressKeyFile, 'utf8'),
  ]);
  const ingress = await connectTls({
    port: broker.ports.platform,
    identity: { certificatePem: cert, privateKeyPem: key },
    ca: broker.pki.fleet.chainPems,
    clientId: 'drover-ingress-0',
  });
  const inbox = collect(ingress);
  await new Promise<void>((resolve, reject) =>
    ingress.subscribe(`$share/${broker.shareGroup}/+/+/+/telemetry`, { qos: 1 }, (err) =>
      err ? reject(err) : resolve(),
    ),
  );
  const identity = await clientCert(broker.pki.fleet, 'dev-s1');
  const dev = await connectTls({
    port: broker.ports.fleet,
    identity,
    ca: broker.pki.fleet.chainPems,
  });
  await publish(dev, 'acme/sensor/dev-s1/telemetry', 'hello');
  await waitFor(() => inbox.some((m) => m.payload === 'hello'), { timeoutMs: 5000 });
});
