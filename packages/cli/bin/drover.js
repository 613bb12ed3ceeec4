#!/usr/bin/env node
'use strict';
// Plain CommonJS so npx/pnpm can run it without a loader; the code lives in the swc build.
const path = require('node:path');

const entry = path.join(__dirname, '..', 'dist', 'index.js');
let cli;
try {
  cli = require(entry);
} catch (err) {
  if (err.code !== 'MODULE_NOT_FOUND' || !String(err.message).includes(entry)) throw err;
  console.error('drover is not built yet: run `npm start` or `pnpm exec turbo run build`');
  process.exit(1);
}
cli.main(process.argv).then((code) => {
  process.exitCode = code;
});
