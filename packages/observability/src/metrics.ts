import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Options of `createMetrics`. */
export interface MetricsOptions {
  /** Service name, the `service` label on every series. */
  service: string;
  /** Whether to collect the Node.js process metrics (default true). */
  defaultMetrics?: boolean;
}

/** A service's metrics: one prom-client registry and helpers that register into it. */
export interface Metrics {
  /** The registry `/metrics` serves. */
  registry: Registry;
  /** A counter; asking twice for the same name returns the same counter. */
  counter<L extends string = string>(name: string, help: string, labels?: L[]): Counter<L>;
  /** A histogram (seconds by convention); `buckets` defaults to prom-client's. */
  histogram<L extends string = string>(
    name: string,
    help: string,
    labels?: L[],
    buckets?: number[],
  ): Histogram<L>;
  /** A gauge; asking twice for the same name returns the same gauge. */
  gauge<L extends string = string>(name: string, help: string, labels?: L[]): Gauge<L>;
}

/** Creates a registry with default process metrics, every series labelled with `service`. */
export function createMetrics(opts: MetricsOptions): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service: opts.service });
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });

  // Wrappers may be built more than once per process; re-registering a name would throw.
  function existing<T>(name: string): T | undefined {
    return registry.getSingleMetric(name) as T | undefined;
  }

  return {
    registry,
    counter<L extends string = string>(name: string, help: string, labels: L[] = []) {
      return (
        existing<Counter<L>>(name) ??
        new Counter<L>({ name, help, labelNames: labels, registers: [registry] })
      );
    },
    histogram<L extends string = string>(
      name: string,
      help: string,
      labels: L[] = [],
      buckets?: number[],
    ) {
      return (
        existing<Histogram<L>>(name) ??
        new Histogram<L>({
          name,
          help,
          labelNames: labels,
          registers: [registry],
          ...(buckets ? { buckets } : {}),
        })
      );
    },
    gauge<L extends string = string>(name: string, help: string, labels: L[] = []) {
      return (
        existing<Gauge<L>>(name) ??
        new Gauge<L>({ name, help, labelNames: labels, registers: [registry] })
      );
    },
  };
}
