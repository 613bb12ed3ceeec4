// rehearse_deployment: resolves the target and runs every firmware check exactly as
// create_deployment does, then plays the rollout against virtual copies of the eligible devices
// (domain/rehearsal). Reads the registry and the firmware catalog; writes nothing, sends nothing.
import {
  type RehearsalReport,
  RehearsalOps,
  RehearsalRpc,
  type RehearseDeploymentRequest,
} from '@drover/contracts';
import { rehearse } from '../domain/rehearsal';
import { checkDeploymentPlan } from '../rollout/deployment.service';
import { type RolloutContext } from '../rollout/rollout.context';
import { type OtaHandlerMap } from './ota.rpc-server';

/** Runs one rehearsal. */
export async function rehearseDeployment(
  ctx: RolloutContext,
  req: RehearseDeploymentRequest,
): Promise<RehearsalReport> {
  // Exactly the checks of create_deployment, so a rehearsal refuses what a deployment would.
  const { rollout: config, firmware, split } = await checkDeploymentPlan(ctx, req);

  const hardwareModels = split.eligible.map((d) => d.hardwareModel);
  const mix: Record<string, number> = {};
  for (const m of hardwareModels) mix[m ?? 'unknown'] = (mix[m ?? 'unknown'] ?? 0) + 1;
  const excluded: Record<string, number> = {};
  for (const [why, ids] of Object.entries(split.excluded)) excluded[why] = ids.length;

  const seed = req.seed ?? 1;
  const f = req.faults ?? {};
  const result = rehearse({
    hardwareModels,
    config,
    faults: {
      failure_rate: f.failure_rate ?? 0,
      offline_rate: f.offline_rate ?? 0,
      never_returns_rate: f.never_returns_rate ?? 0,
      ...(f.by_model !== undefined && { by_model: f.by_model }),
    },
    seed,
    defaultRatePerS: ctx.settings.ratePerS,
  });
  ctx.logger.info(
    {
      event: 'deployment.rehearsed',
      version: firmware.version,
      devices: result.total_devices,
      outcome: result.outcome,
      touched: result.blast_radius.touched,
    },
    'rollout rehearsed',
  );
  return {
    dry_run: true,
    version: firmware.version,
    device_type: req.device_type,
    rollout_config: config,
    seed,
    hardware_mix: mix,
    excluded,
    ...result,
  };
}

/** The rehearsal operation as a handler map for the orchestrator's RPC server. */
export function rehearsalEndpoints(ctx: RolloutContext): OtaHandlerMap {
  const op = RehearsalOps.rehearseDeployment;
  return {
    [op]: {
      schema: RehearsalRpc[op].request,
      handler: (req) => rehearseDeployment(ctx, req as RehearseDeploymentRequest),
    },
  };
}
