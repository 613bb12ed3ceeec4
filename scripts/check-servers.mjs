#!/usr/bin/env node
// Checks that NATS (with JetStream), PostgreSQL, Redis and Mosquitto answer at their URLs
// (NATS_URL, DATABASE_URL, REDIS_URL, MQTT_URL); prints one line each and, for a missing one,
// the command that starts it. Exit 1 if any is missing. No dependencies: runs before install.
import { checkServers, formatServerReport } from './lib/servers.mjs';

const results = await checkServers(process.env);
console.log(formatServerReport(results));
if (results.some((r) => !r.ok)) {
  console.log('\nsome servers are missing: start them with the commands above, or');
  console.log('  docker compose up -d nats postgres redis mosquitto');
  process.exit(1);
}
