import { Type } from '@sinclair/typebox';
import { getContext, runWithContext } from '@drover/observability';
import {
  type DomainError,
  NotFoundError,
  UnavailableError,
  ValidationError,
} from '@drover/service-kit';
import { cleanupNamespace, testNamespace, withTestBus } from '@drover/testing';
import { rpcRequest, serveRpc, type Bus, type RpcServer } from '../../src';

describe('rpc', () => {
  const ns = testNamespace('rpc');
  let bus: Bus;
  let server: RpcServer;
  let slow: RpcServer;

  beforeAll(async () => {
    bus = await withTestBus(ns, { ensureStreams: false });
    server = await serveRpc(bus, {
      service: 'device-registry',
      version: '1.0.0',
      endpoints: {
        get_device: {
          schema: Type.Object({ tenant: Type.String(), device_id: Type.String({ minLength: 2 }) }),
          handler: async (req: { tenant: string; device_id: string }, ctx) => {
            if (req.device_id === 'missing') {
              throw new NotFoundError('device_not_found', `no device ${req.device_id}`);
            }
            return { id: req.device_id, correlation: ctx.correlationId, inCtx: getContext() };
          },
        },
        explode: {
          handler: async () => {
            throw new Error('secret internals');
          },
        },
      },
    });
    slow = await serveRpc(bus, {
      service: 'slowpoke',
      version: '0.1.0',
      endpoints: {
        wait: { handler: () => new Promise((resolve) => setTimeout(() => resolve('late'), 1000)) },
      },
    });
  });

  afterAll(async () => {
    await server.stop();
    await slow.stop();
    await cleanupNamespace(ns, { bus, redisUrl: null });
    await bus.close();
  });

  it('answers with the handler result, in the caller correlation', async () => {
    const res = await runWithContext({ correlationId: 'corr-rpc' }, () =>
      rpcRequest<{ id: string; correlation: string; inCtx: { correlationId: string } }>(
        bus,
        'device-registry',
        'get_device',
        { tenant: 'acme', device_id: 'd1' },
      ),
    );
    expect(res).toEqual({
      id: 'd1',
      correlation: 'corr-rpc',
      inCtx: { correlationId: 'corr-rpc' },
    });
  });

  it('rejects an invalid request with 400 validation_failed naming the path', async () => {
    const err = await rpcRequest(bus, 'device-registry', 'get_device', {
      tenant: 'acme',
      device_id: 'x',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect(err).toMatchObject({ status: 400, code: 'validation_failed' });
    expect((err as DomainError).detail).toMatch(/^\/device_id: /);
  });

  it('rethrows the DomainError of the handler', async () => {
    const err = await rpcRequest(bus, 'device-registry', 'get_device', {
      tenant: 'acme',
      device_id: 'missing',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).toMatchObject({ code: 'device_not_found', detail: 'no device missing' });
  });

  it('turns an unexpected error into internal_error without its message', async () => {
    const err = await rpcRequest(bus, 'device-registry', 'explode', {}).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 500, code: 'internal_error' });
    expect(JSON.stringify(err)).not.toContain('secret');
  });

  it('maps no responders to UnavailableError(service_unavailable)', async () => {
    const err = await rpcRequest(bus, 'nobody-home', 'get', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err).toMatchObject({ status: 503, code: 'service_unavailable' });
  });

  it('maps a timeout to UnavailableError(service_unavailable)', async () => {
    const err = await rpcRequest(bus, 'slowpoke', 'wait', {}, { timeoutMs: 200 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as DomainError).detail).toContain('timed out');
  });

  it('registers on the NATS services API with the service as queue group', async () => {
    // Discovery ($SRV.INFO) is not namespaced: other test namespaces' services answer too.
    const infos = [];
    const client = bus.nc.services.client();
    for await (const info of await client.info('device-registry')) {
      if (info.endpoints.some((e) => e.subject.startsWith(`${ns}.`))) infos.push(info);
    }
    expect(infos).toHaveLength(1);
    expect(infos[0]!.endpoints.map((e) => [e.name, e.subject, e.queue_group])).toEqual([
      ['get_device', `${ns}.iot.rpc.device-registry.get_device`, 'device-registry'],
      ['explode', `${ns}.iot.rpc.device-registry.explode`, 'device-registry'],
    ]);
  });
});
