// Supervised by `npm start`: runs the development mTLS Mosquitto (fleet, provisioning and
// platform listeners, prepared by secure-broker.mjs from the development PKI) and keeps the
// broker's CRL in step with the one the provisioning service writes: on every change the file
// is copied in place and Mosquitto is sent SIGHUP, which makes new connections with a revoked
// certificate fail (see docs/security.md for what a live session needs).
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, unwatchFile, watchFile } from 'node:fs';

const {
  MOSQUITTO_BIN = '/usr/sbin/mosquitto',
  MOSQUITTO_CONFIG,
  CRL_SOURCE,
  CRL_TARGET,
} = process.env;
if (!MOSQUITTO_CONFIG || !CRL_SOURCE || !CRL_TARGET) {
  console.error('secure-broker-run: MOSQUITTO_CONFIG, CRL_SOURCE and CRL_TARGET are required');
  process.exit(2);
}

function copyCrl() {
  if (!existsSync(CRL_SOURCE)) return false;
  copyFileSync(CRL_SOURCE, CRL_TARGET);
  return true;
}

// Copied before the broker starts: a SIGHUP before Mosquitto has set its handlers would kill it.
copyCrl();
const broker = spawn(MOSQUITTO_BIN, ['-c', MOSQUITTO_CONFIG], { stdio: 'inherit' });

function syncCrl() {
  try {
    if (!copyCrl()) return;
    broker.kill('SIGHUP');
    console.log(
      JSON.stringify({ level: 'info', msg: 'CRL reloaded', event: 'broker.crl_reloaded' }),
    );
  } catch (err) {
    console.log(JSON.stringify({ level: 'warn', msg: `CRL not reloaded: ${err.message}` }));
  }
}
watchFile(CRL_SOURCE, { interval: 2000 }, syncCrl);

broker.on('exit', (code, signal) => {
  unwatchFile(CRL_SOURCE);
  process.exit(signal ? 1 : (code ?? 1));
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => broker.kill('SIGTERM'));
