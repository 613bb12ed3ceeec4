import { type Command } from 'commander';
import { type ApiClient, createApiClient } from '../api-client';
import { type CliIo, type CommonOptions, addCommonOptions, resolveCommon } from '../context';

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
