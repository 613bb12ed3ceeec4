#!/usr/bin/env bash
# npm test: install with the frozen lockfile, build, typecheck, lint, format check, every test.
# Ends with the line "tests: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-pnpm.sh

step() { printf '\n== %s\n' "$*"; }
fail() { echo "$1"; echo "tests: 0 passed, 1 failed"; exit 1; }

step "install (frozen lockfile)"
pnpm install --frozen-lockfile || fail "install failed"
step "build"
pnpm exec turbo run build --output-logs=errors-only || fail "build failed"
step "typecheck"
pnpm exec tsc -p tsconfig.json --noEmit || fail "typecheck failed"
step "lint"
pnpm exec eslint --max-warnings 0 . || fail "lint failed"
step "format"
pnpm exec prettier --check . >/dev/null || { pnpm exec prettier --list-different .; fail "format check failed"; }
step "deploy config"
node scripts/check-deploy.mjs || fail "deploy config check failed"
step "servers"
node scripts/check-servers.mjs || fail "a server the tests need is not running"

step "tests"
mkdir -p .drover
rm -f .drover/jest-results.json
pnpm exec jest --ci --coverage --maxWorkers=2 --json --outputFile=.drover/jest-results.json "$@"
code=$?
node -e '
const fs = require("fs");
let r = { numPassedTests: 0, numFailedTests: 0, numRuntimeErrorTestSuites: 0 };
try { r = JSON.parse(fs.readFileSync(".drover/jest-results.json", "utf8")); } catch (e) { console.error(String(e)); }
const failed = r.numFailedTests + r.numRuntimeErrorTestSuites + (process.argv[1] !== "0" && r.numFailedTests === 0 && r.numRuntimeErrorTestSuites === 0 ? 1 : 0);
console.log(`\ntests: ${r.numPassedTests} passed, ${failed} failed`);
' "$code"
exit $code
