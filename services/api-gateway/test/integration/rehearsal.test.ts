// POST /api/v1/firmware/rehearse: the route's scope, body schema and mapping onto the
// orchestrator's rehearse_deployment (a stand-in service on the bus records what it gets; the
// orchestrator's side is tested in services/ota-orchestrator/test/integration/rehearsal.test.ts).
import { type RpcServer, serveRpc } from '@drover/bus';
import {
  DEPLOYMENT_SERVICE,
  RehearsalOps,
  RehearsalRpc,
  type RehearsalReport,
  type RehearseDeploymentRequest,
} from '@drover/contracts';
import { ValidationError } from '@drover/service-kit';
import { type Stack, startStack } from '../support/stack';

let stack: Stack;
let stub: RpcServer;
const seen: RehearseDeploymentRequest[] = [];

const report = (req: RehearseDeploymentRequest): RehearsalReport => ({
  dry_run: true,
  version: req.version,
  device_type: req.device_type,
  rollout_config: {
    stages: [10, 100],
    soak_duration_minutes: 30,
    max_error_rate: 0.02,
    max_offline_rate: 0.05,
    min_devices_per_stage: 1,
    device_timeout_minutes: 30,
    min_sample: 10,
    rate_per_s: null,
  },
  seed: req.seed ?? 1,
  outcome: 'rolled_back',
  reason: 'error_rate',
  stage: 0,
  total_devices: 100,
  hardware_mix: { 'rev-a': 100 },
  excluded: {},
  error_rate: 0.5,
  offline_rate: 0,
  blast_radius: {
    touched: 10,
    fraction: 0.1,
    succeeded: 5,
    failed: 5,
    offline: 0,
    updating: 0,
    by_hardware_model: { 'rev-a': 10 },
  },
  stages: [],
  duration_minutes: 4,
  faults_drawn: { fail: 50, offline: 0, never_returns: 0 },
});

beforeAll(async () => {
  stack = await startStack('gw_rehearse');
  stub = await serveRpc(stack.bus, {
    service: DEPLOYMENT_SERVICE,
    version: '0.0.0',
    endpoints: {
      [RehearsalOps.rehearseDeployment]: {
        schema: RehearsalRpc[RehearsalOps.rehearseDeployment].request,
        handler: (req) => {
          const r = req as RehearseDeploymentRequest;
          seen.push(r);
          const f = r.faults ?? {};
          if ((f.failure_rate ?? 0) + (f.offline_rate ?? 0) > 1) {
            throw new ValidationError('rehearsal_bad_faults', 'rates sum above 1');
          }
          return report(r);
        },
      },
    },
  });
}, 60_000);

afterAll(async () => {
  await stub?.stop();
  await stack?.stop();
});

const body = {
  version: '2.0.0',
  device_type: 'sensor',
  target: { group: 'lab' },
  faults: { failure_rate: 0.5, by_model: { 'rev-b': { offline_rate: 1 } } },
  seed: 7,
};

describe('POST /api/v1/firmware/rehearse', () => {
  it('answers the report and hands the body to rehearse_deployment with the token tenant', async () => {
    const res = await stack.app.inject({
      method: 'POST',
      url: '/api/v1/firmware/rehearse',
      headers: await stack.bearer('deployments:write', 'acme'),
      payload: body,
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      dry_run: true,
      outcome: 'rolled_back',
      stage: 0,
      seed: 7,
      blast_radius: { touched: 10 },
    });
    // The gateway's schema applies the contract's defaults (allow_downgrade false).
    expect(seen[seen.length - 1]).toEqual({ ...body, tenant: 'acme', allow_downgrade: false });
  });

  it('needs deployments:write', async () => {
    const res = await stack.app.inject({
      method: 'POST',
      url: '/api/v1/firmware/rehearse',
      headers: await stack.bearer('firmware:read'),
      payload: body,
    });
    expect(res.statusCode).toBe(403);
  });

  it('refuses a bad body at the edge and passes the orchestrator refusal through', async () => {
    const before = seen.length;
    const headers = await stack.bearer('deployments:write');
    const bad = await stack.app.inject({
      method: 'POST',
      url: '/api/v1/firmware/rehearse',
      headers,
      payload: { ...body, faults: { failure_rate: 2 } },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error_code: 'validation_failed' });
    const extra = await stack.app.inject({
      method: 'POST',
      url: '/api/v1/firmware/rehearse',
      headers,
      payload: { ...body, tenant: 'other' },
    });
    expect(extra.statusCode).toBe(400);
    expect(seen.length).toBe(before);
    const refused = await stack.app.inject({
      method: 'POST',
      url: '/api/v1/firmware/rehearse',
      headers,
      payload: { ...body, faults: { failure_rate: 0.7, offline_rate: 0.7 } },
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toMatchObject({ error_code: 'rehearsal_bad_faults' });
  });
});
