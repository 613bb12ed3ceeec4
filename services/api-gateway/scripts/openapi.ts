// Writes docs/openapi.json from the app (pnpm --filter @drover/api-gateway openapi).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as prettier from 'prettier';
import { buildOpenApiDocument } from '../src/openapi-document';

async function main(): Promise<void> {
  const target = path.resolve(__dirname, '../../../docs/openapi.json');
  const doc = await buildOpenApiDocument();
  // Formatted as the repository's prettier would, so `prettier --check` stays clean.
  const options = (await prettier.resolveConfig(target)) ?? {};
  const text = await prettier.format(JSON.stringify(doc), { ...options, parser: 'json' });
  await writeFile(target, text);
  process.stdout.write(`wrote ${path.relative(process.cwd(), target)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err instanceof Error ? err.stack : err)}\n`);
  process.exit(1);
});
