// Types for log-format.mjs.

export function useColor(
  stream?: { isTTY?: boolean },
  env?: Record<string, string | undefined>,
): boolean;
export function parseLogLine(line: string): Record<string, unknown> | null;
export function createLogFormatter(
  services: string[],
  options?: { color?: boolean },
): (service: string, line: string) => string;
