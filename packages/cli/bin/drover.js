#!/usr/bin/env node
'use strict';
// Plain CommonJS so npx/pnpm can run it without a loader; the code lives in the swc build.
require('../dist/index.js')
  .main(process.argv)
  .then((code) => {
    process.exitCode = code;
  });
