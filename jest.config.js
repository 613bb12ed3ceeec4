// One Jest run over every package and service. Each workspace is a project so its tests
// resolve @drover/* to source (no build needed). Coverage is collected from every service's
// domain/ and held at 100 %.
const fs = require('node:fs');
const path = require('node:path');

const tsSwc = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    target: 'es2022',
    keepClassNames: true,
    transform: { legacyDecorator: true, decoratorMetadata: true },
  },
  module: { type: 'commonjs' },
  sourceMaps: 'inline',
};
const jsSwc = {
  jsc: { parser: { syntax: 'ecmascript' }, target: 'es2022' },
  module: { type: 'commonjs' },
};

const workspaces = ['packages', 'services'].flatMap((group) =>
  fs
    .readdirSync(path.join(__dirname, group), { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(__dirname, group, d.name, 'test')))
    .map((d) => ({ group, name: d.name, dir: path.join(__dirname, group, d.name) })),
);

const projects = workspaces.map(({ group, name, dir }) => ({
  displayName: name,
  rootDir: dir,
  testEnvironment: 'node',
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // ESM-only dependencies (kysely, jose, ulid) are transformed to CommonJS like our own code.
  transformIgnorePatterns: [],
  transform: {
    '^.+\\.ts$': ['@swc/jest', tsSwc],
    '^.+\\.(js|mjs|cjs)$': ['@swc/jest', jsSwc],
  },
  moduleNameMapper: {
    '^@drover/([a-z-]+)$': path.join(__dirname, 'packages/$1/src'),
  },
  collectCoverageFrom: group === 'services' ? ['<rootDir>/src/domain/**/*.ts'] : [],
}));

const coverageThreshold = Object.fromEntries(
  workspaces
    .filter(({ group, dir }) => group === 'services' && fs.existsSync(path.join(dir, 'src/domain')))
    .map(({ dir }) => [
      path.join(dir, 'src/domain/'),
      { branches: 100, functions: 100, lines: 100, statements: 100 },
    ]),
);

module.exports = {
  projects,
  coverageThreshold,
  coverageReporters: ['text-summary', 'json-summary'],
  testTimeout: 30000,
};
