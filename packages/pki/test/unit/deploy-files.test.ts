// deploy/mosquitto/mtls/ holds the generator's output for the container layout, committed so
// operators can read it; this test keeps it identical to the generator.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  renderAclFile,
  renderMosquittoConfig,
  renderPlatformAclFile,
  renderProvisioningAclFile,
} from '@drover/pki';

const deployDir = path.join(__dirname, '../../../../deploy/mosquitto/mtls');
const certs = '/mosquitto/certs';
const config = '/mosquitto/config';

const expected: Record<string, string> = {
  'mosquitto-mtls.conf': renderMosquittoConfig({
    dir: '/mosquitto/data',
    fleetPort: 8883,
    provisioningPort: 8884,
    platformPort: 8885,
    bindAddress: '0.0.0.0',
    caFile: `${certs}/fleet-chain.pem`,
    bootstrapCaFile: `${certs}/bootstrap-ca.pem`,
    serviceCaFile: `${certs}/service-ca.pem`,
    certFile: `${certs}/server.crt`,
    keyFile: `${certs}/server.key`,
    crlFile: `${certs}/fleet.crl`,
    aclFile: `${config}/fleet.acl`,
    provisioningAclFile: `${config}/provisioning.acl`,
    platformAclFile: `${config}/platform.acl`,
    persistence: true,
  }),
  'fleet.acl': renderAclFile(),
  'provisioning.acl': renderProvisioningAclFile(),
  'platform.acl': renderPlatformAclFile(),
};

describe('deploy/mosquitto/mtls', () => {
  it.each(Object.keys(expected))('%s matches the generator', async (name) => {
    const file = path.join(deployDir, name);
    // DROVER_UPDATE_DEPLOY=1 rewrites the files after a deliberate generator change.
    if (process.env.DROVER_UPDATE_DEPLOY === '1') await writeFile(file, expected[name]!);
    expect(await readFile(file, 'utf8')).toBe(expected[name]);
  });
});
