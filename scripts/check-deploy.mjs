#!/usr/bin/env node
// Checks the deployment files without Docker or Helm: every YAML file parses (compose, deploy/
// except the Helm templates, which are Go templates, and the CI workflows), the Helm templates'
// blocks are balanced, and every service under services/ is deployed by docker-compose.yml and
// by the Helm chart's values. Where promtool is installed (Debian: prometheus), the alert rules'
// unit tests run too (`promtool test rules`). Prints one line per problem and exits 1 if there is
// any.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const COMPOSE = 'docker-compose.yml';
const DOCKERFILE = 'deploy/docker/Dockerfile';
const HELM_VALUES = 'deploy/helm/drover/values.yaml';
const ALERT_TESTS = 'deploy/prometheus/alerts.test.yml';
const problems = [];

const problem = (file, message) => problems.push(`${file}: ${message}`);

/** Every file under dir (relative to the repository root), or none when dir is missing. */
function filesUnder(dir) {
  const abs = join(root, dir);
  if (!existsSync(abs)) return [];
  return readdirSync(abs, { recursive: true })
    .map((name) => join(dir, String(name)))
    .filter((path) => statSync(join(root, path)).isFile());
}

const isYaml = (path) => /\.ya?ml$/.test(path);
const isHelmTemplate = (path) => path.split(sep).includes('templates') && path.includes('helm');

/** Parses every document of a YAML file; records syntax errors and returns the documents. */
function loadYaml(path) {
  const abs = join(root, path);
  if (!existsSync(abs)) {
    problem(path, 'missing');
    return [];
  }
  // merge: compose files use `<<: *anchor`; uniqueKeys (default) catches duplicated keys.
  const docs = parseAllDocuments(readFileSync(abs, 'utf8'), { merge: true, prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  const values = [];
  for (const doc of list) {
    for (const error of [...doc.errors, ...doc.warnings]) {
      problem(path, error.message.split('\n')[0].replace(/:$/, ''));
    }
    if (doc.errors.length === 0) values.push(doc.toJS());
  }
  return values;
}

/** Directories under services/ that are workspace packages (have a package.json). */
function serviceNames() {
  const dir = join(root, 'services');
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(dir, entry.name, 'package.json')))
    .map((entry) => entry.name)
    .sort();
}

/** Go template blocks must close: a missing {{ end }} only shows up at `helm install`. */
function checkHelmTemplate(path) {
  const text = readFileSync(join(root, path), 'utf8').replace(
    /\{\{-?\s*\/\*[\s\S]*?\*\/\s*-?\}\}/g,
    '',
  );
  let depth = 0;
  for (const match of text.matchAll(/\{\{-?\s*(if|range|with|define|block|end)\b/g)) {
    depth += match[1] === 'end' ? -1 : 1;
    if (depth < 0) {
      const line = text.slice(0, match.index).split('\n').length;
      problem(path, `line ${line}: {{ end }} without an open block`);
      return;
    }
  }
  if (depth > 0) problem(path, `${depth} block(s) not closed with {{ end }}`);
}

function checkCompose(compose, services) {
  const defined = compose?.services ?? {};
  for (const name of services) {
    const entry = defined[name];
    if (!entry) {
      problem(COMPOSE, `service "${name}" (services/${name}) is missing`);
      continue;
    }
    if (entry.build?.dockerfile !== DOCKERFILE || entry.build?.args?.SERVICE !== name) {
      problem(COMPOSE, `service "${name}" must build ${DOCKERFILE} with args.SERVICE: ${name}`);
    }
    if (!entry.healthcheck?.test) problem(COMPOSE, `service "${name}" has no healthcheck`);
  }
  // Bind-mounted repository files (./deploy/...) must exist, or compose creates an empty
  // directory in their place. Other host paths (.drover/dev/) are made at run time.
  for (const [name, entry] of Object.entries(defined)) {
    for (const volume of entry?.volumes ?? []) {
      const source = typeof volume === 'string' ? volume.split(':')[0] : volume?.source;
      if (
        typeof source === 'string' &&
        source.startsWith('./deploy/') &&
        !existsSync(join(root, source))
      ) {
        problem(COMPOSE, `service "${name}" mounts ${source}, which does not exist`);
      }
    }
  }
}

function checkHelmValues(values, services) {
  const defined = values?.services ?? {};
  for (const name of services) {
    if (!defined[name]) problem(HELM_VALUES, `services."${name}" (services/${name}) is missing`);
  }
  // The ingress's broker sessions are found again by client id: each replica needs an id of its
  // own that survives its restart (a StatefulSet pod's name), or replicas take each other's
  // connections over (docs/deployment.md).
  const ingress = defined['mqtt-ingress'];
  if (ingress && (ingress.statefulSet !== true || ingress.podNameEnv !== 'MQTT_CLIENT_ID')) {
    problem(
      HELM_VALUES,
      'services."mqtt-ingress" needs statefulSet: true and podNameEnv: MQTT_CLIENT_ID',
    );
  }
  // Production runs a three-node JetStream cluster (deploy/nats): streams of one replica would
  // lose what a node's disk held.
  if (!(Number(values?.env?.NATS_REPLICAS) >= 3)) {
    problem(HELM_VALUES, 'env.NATS_REPLICAS must be 3 or more (deploy/nats/README.md)');
  }
}

function main() {
  const services = serviceNames();
  const yamlFiles = [
    COMPOSE,
    ...filesUnder('deploy').filter((path) => isYaml(path) && !isHelmTemplate(path)),
    ...filesUnder('.github/workflows').filter(isYaml),
  ];
  const parsed = new Map(yamlFiles.map((path) => [path, loadYaml(path)]));

  for (const path of filesUnder('deploy/helm')) {
    if (isHelmTemplate(path) && /\.(ya?ml|tpl|txt)$/.test(path)) checkHelmTemplate(path);
  }
  if (!existsSync(join(root, DOCKERFILE))) problem(DOCKERFILE, 'missing');
  checkCompose(parsed.get(COMPOSE)?.[0], services);
  checkHelmValues(parsed.get(HELM_VALUES)?.[0], services);
  const rules = checkAlertRules();

  if (problems.length > 0) {
    for (const line of problems) console.error(`check-deploy: ${line}`);
    console.error(`check-deploy: ${problems.length} problem(s)`);
    process.exit(1);
  }
  console.log(
    `check-deploy: ok (${yamlFiles.length} YAML files; services: ${services.join(', ')}; ${rules})`,
  );
}

/** Runs the alert rules' unit tests with promtool when it is installed; says what it did. */
function checkAlertRules() {
  const run = spawnSync('promtool', ['test', 'rules', ALERT_TESTS], {
    cwd: root,
    encoding: 'utf8',
  });
  if (run.error?.code === 'ENOENT') return 'alert rule tests not run: no promtool';
  if (run.status !== 0)
    problem(ALERT_TESTS, `promtool test rules failed:\n${run.stdout}${run.stderr}`);
  return 'alert rule tests passed';
}

main();
