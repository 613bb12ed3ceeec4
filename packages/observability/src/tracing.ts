import {
  context,
  propagation,
  trace,
  isSpanContextValid,
  type Context,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { NodeSDK } from '@opentelemetry/sdk-node';

/** Options of `startTracing`. */
export interface TracingOptions {
  /** `service.name` on every span. */
  service: string;
  /** OTLP HTTP endpoint (base URL or full `/v1/traces` URL); tracing stays off without it. */
  otlpEndpoint?: string;
}

/** Stops tracing and flushes pending spans; callable directly or as `.shutdown()`. */
export type TracingShutdown = (() => Promise<void>) & { shutdown(): Promise<void> };

let globalsInstalled = false;

/**
 * Registers the W3C propagator and an AsyncLocalStorage context manager even when tracing is
 * off: an incoming `traceparent` then still becomes the active context (so it reaches logs as
 * trace_id) and is passed on to outgoing messages. Idempotent.
 */
export function installTracePropagation(): void {
  if (globalsInstalled) return;
  globalsInstalled = true;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
}

function releaseGlobals(): void {
  // The SDK registers its own context manager and propagator; the API refuses a second one.
  context.disable();
  propagation.disable();
  globalsInstalled = false;
}

function tracesUrl(endpoint: string): string {
  const base = endpoint.replace(/\/+$/, '');
  return base.endsWith('/v1/traces') ? base : `${base}/v1/traces`;
}

/** Starts the OpenTelemetry NodeSDK exporting over OTLP HTTP, only when an endpoint is set. */
export function startTracing(opts: TracingOptions): TracingShutdown {
  installTracePropagation();
  let stop = async (): Promise<void> => undefined;
  if (opts.otlpEndpoint) {
    releaseGlobals();
    const sdk = new NodeSDK({
      serviceName: opts.service,
      traceExporter: new OTLPTraceExporter({ url: tracesUrl(opts.otlpEndpoint) }),
      contextManager: new AsyncLocalStorageContextManager(),
      textMapPropagator: new W3CTraceContextPropagator(),
      // Metrics go through prom-client and logs through pino; the SDK only does traces.
      metricReaders: [],
      logRecordProcessors: [],
      instrumentations: [],
    });
    sdk.start();
    globalsInstalled = true;
    stop = () => sdk.shutdown();
  }
  let done: Promise<void> | undefined;
  const shutdown = (): Promise<void> => (done ??= stop());
  return Object.assign(shutdown, { shutdown });
}

/** Writes `traceparent`/`tracestate` of `ctx` (default: the active context) through `set`. */
export function injectTraceHeaders(
  set: (key: string, value: string) => void,
  ctx: Context = context.active(),
): void {
  installTracePropagation();
  const setter: TextMapSetter<null> = { set: (_carrier, key, value) => set(key, value) };
  propagation.inject(ctx, null, setter);
}

/** Reads W3C `traceparent`/`tracestate` through `get` into a Context to run work in. */
export function extractTraceContext(
  get: (key: string) => string | undefined,
  base: Context = context.active(),
): Context {
  installTracePropagation();
  const getter: TextMapGetter<null> = {
    get: (_carrier, key) => get(key),
    keys: () => ['traceparent', 'tracestate'],
  };
  return propagation.extract(base, null, getter);
}

/** The trace id of the active span (local or extracted), or undefined when there is none. */
export function currentTraceId(): string | undefined {
  const sc = trace.getSpanContext(context.active());
  return sc && isSpanContextValid(sc) ? sc.traceId : undefined;
}

installTracePropagation();
