import { type Command } from 'commander';
import { type ApiClient, createApiClient } from '../api-client';
import { type CliIo, type CommonOptions, addCommonOptions, resolveCommon } from '../context';
import { type Page } from '../device.types';
import { renderJson } from '../output';

/** Gives a leaf command the common options and an action that receives a ready API client. */
export type ActionRunner = (
  cmd: Command,
  action: (client: ApiClient, common: CommonOptions) => Promise<void>,
) => Command;

export function actionRunner(io: CliIo): ActionRunner {
  return (cmd, action) =>
    addCommonOptions(cmd).action(async () => {
      const common = resolveCommon(cmd.opts(), io.env);
      const client = createApiClient({ baseUrl: common.api, token: common.token });
      await action(client, common);
    });
}

/** Follows `next_cursor` from `query.cursor` to the last page; one page of everything. */
export async function listAll<T>(
  client: ApiClient,
  path: string,
  query: Record<string, string | number | undefined>,
): Promise<Page<T>> {
  const items: T[] = [];
  let cursor = query.cursor as string | undefined;
  do {
    const page = await client.request<Page<T>>({
      method: 'GET',
      path,
      query: { ...query, cursor },
    });
    items.push(...page.items);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return { items, next_cursor: null };
}

/** Prints a page: as JSON, or as `table(items)` with a hint on stderr when more pages follow. */
export function printPage<T>(
  io: CliIo,
  common: CommonOptions,
  page: Page<T>,
  table: (items: readonly T[]) => string,
): void {
  if (common.json) {
    io.stdout(renderJson(page));
    return;
  }
  io.stdout(table(page.items));
  if (page.next_cursor) {
    io.stderr(`more: --cursor ${page.next_cursor} (or --all)\n`);
  }
}
