// The development mTLS broker of `npm start`: prepares its directory from the development PKI
// (the same store the provisioning service issues from, so device certificates it issues are
// trusted by the broker) and describes the supervised process that runs it.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export const MOSQUITTO_BIN = '/usr/sbin/mosquitto';

/**
 * The mqtt-ingress environment that makes it a TLS client of the broker's platform listener:
 * its own certificate (CN drover-ingress, service CA), the fleet chain as the trust anchor of
 * the broker's certificate, and the installation's secret share group.
 */
export function ingressTlsEnv(broker) {
  return {
    MQTT_URL: `mqtts://127.0.0.1:${broker.ports.platform}`,
    MQTT_CA_FILE: broker.files.caFile,
    MQTT_CERT_FILE: broker.files.ingressCertFile,
    MQTT_KEY_FILE: broker.files.ingressKeyFile,
    MQTT_SHARE_GROUP: broker.shareGroup,
  };
}

/**
 * What the device simulator needs to provision its devices over mTLS (bootstrap certificate on
 * the provisioning listener, then the fleet listener): see docs/simulator.md.
 */
export function simulatorTlsEnv(broker) {
  return {
    SIM_PROVISIONING: 'true',
    SIM_PROVISIONING_URL: `mqtts://127.0.0.1:${broker.ports.provisioning}`,
    SIM_BROKER_CA_FILE: broker.files.caFile,
  };
}

/**
 * Returns `{spec, ports, ingressEnv}` for the supervisor (ingressEnv: see ingressTlsEnv), or `{skipped: reason}` when the broker cannot run
 * here (no mosquitto binary, pki not built). `pkiDir` and `crlPath` are the provisioning
 * service's PKI_DIR and CRL_PATH.
 */
export async function prepareDevSecureBroker(root, { pkiDir, crlPath }) {
  const mosquitto = process.env.MOSQUITTO_BIN ?? MOSQUITTO_BIN;
  if (!existsSync(mosquitto)) return { skipped: `${mosquitto} not found` };
  const dist = path.join(root, 'packages/pki/dist/index.js');
  if (!existsSync(dist)) return { skipped: 'packages/pki is not built' };
  const pki = createRequire(import.meta.url)(dist);
  const broker = await pki.prepareSecureBroker({
    dir: path.join(root, '.drover/secure-mqtt'),
    store: new pki.FileSecretStore(path.resolve(root, pkiDir)),
  });
  return {
    ports: broker.ports,
    ingressEnv: ingressTlsEnv(broker),
    simulatorEnv: simulatorTlsEnv(broker),
    spec: {
      name: 'secure-mqtt',
      main: path.join(root, 'scripts/lib/secure-broker-run.mjs'),
      cwd: root,
      env: {
        ...process.env,
        MOSQUITTO_BIN: mosquitto,
        MOSQUITTO_CONFIG: broker.configPath,
        CRL_SOURCE: path.resolve(root, crlPath),
        CRL_TARGET: broker.files.crlFile,
      },
    },
  };
}
