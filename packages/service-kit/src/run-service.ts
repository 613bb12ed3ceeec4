import { createLogger, type Logger } from '@drover/observability';
import { createLifecycle, type Lifecycle } from './lifecycle';

/** Options of `runService`. */
export interface RunServiceOptions {
  /** Logger to use (default: a new one for the service at `LOG_LEVEL`). */
  logger?: Logger;
  /** Shutdown timeout (default 15000 ms). */
  timeoutMs?: number;
  /** Exits the process; tests replace it (default `process.exit`). */
  exit?: (code: number) => void;
}

/**
 * Runs a service's `main(lifecycle)` with signal handling. A failure of `main`, an uncaught
 * exception or an unhandled rejection is logged as fatal, then what was started is stopped
 * and the process exits with 1.
 */
export async function runService(
  name: string,
  main: (lifecycle: Lifecycle) => Promise<void>,
  opts: RunServiceOptions = {},
): Promise<Lifecycle> {
  const logger = opts.logger ?? createLogger({ service: name, level: process.env.LOG_LEVEL });
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const lifecycle = createLifecycle({ logger, timeoutMs: opts.timeoutMs, exit });
  lifecycle.installSignalHandlers();

  const fatal = (event: string, err: unknown): void => {
    logger.fatal({ event, err }, `${name} failed`);
    lifecycle.stop(event).then(
      () => exit(1),
      () => exit(1),
    );
  };
  process.on('uncaughtException', (err) => fatal('service.uncaught_exception', err));
  process.on('unhandledRejection', (err) => fatal('service.unhandled_rejection', err));

  try {
    await main(lifecycle);
    logger.info({ event: 'service.started' }, `${name} started`);
  } catch (err) {
    fatal('service.start_failed', err);
  }
  return lifecycle;
}
