// A sensor's physics, pure: the next reading is a function of the previous state, the time
// elapsed and the device's own random stream.
import { type Random, noise } from './random';

/** What a simulated sensor remembers between readings. */
export interface SensorState {
  /** Current temperature in °C (without the per-reading noise). */
  temperatureC: number;
  /** Drift of the temperature in °C per hour (a slow random walk). */
  driftPerHour: number;
  /** Battery charge, 0–1. */
  battery: number;
  /** Drain per hour, 0–1 units. */
  drainPerHour: number;
  /** Link quality around which RSSI varies, dBm. */
  rssiBaseDbm: number;
  /** Seconds since the last (simulated) boot. */
  uptimeS: number;
}

/** Metrics of one telemetry message. */
export interface SensorMetrics {
  /** °C, two decimals. */
  temperature: number;
  /** 0–1, three decimals. */
  battery: number;
  /** Received signal strength, dBm, integer. */
  rssi: number;
  /** Seconds since boot, integer. */
  uptime_s: number;
}

const TEMP_MIN = -40;
const TEMP_MAX = 85;
const BATTERY_SWAP_BELOW = 0.05;

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;

/** A new sensor: indoor-ish temperature, a partly used battery, a link between −50 and −95 dBm. */
export function initialSensorState(rand: Random): SensorState {
  return {
    temperatureC: 18 + rand.next() * 8,
    driftPerHour: noise(rand, 0.2),
    battery: 0.6 + rand.next() * 0.4,
    drainPerHour: 0.001 + rand.next() * 0.004,
    rssiBaseDbm: -50 - rand.next() * 45,
    uptimeS: 0,
  };
}

/** Advances the sensor by `elapsedS` seconds and reads it. */
export function readSensor(
  state: SensorState,
  elapsedS: number,
  rand: Random,
): { state: SensorState; metrics: SensorMetrics } {
  const hours = elapsedS / 3600;
  // The drift itself wanders, and is pulled back so the temperature stays plausible.
  const driftPerHour = clamp(state.driftPerHour + noise(rand, 0.05), -2, 2);
  const temperatureC = clamp(state.temperatureC + driftPerHour * hours, TEMP_MIN, TEMP_MAX);
  let battery = state.battery - state.drainPerHour * hours;
  // A flat battery is swapped: a fleet that dies within a day of demo is no demo.
  if (battery < BATTERY_SWAP_BELOW) battery = 1;
  const next: SensorState = {
    ...state,
    temperatureC,
    driftPerHour,
    battery,
    uptimeS: state.uptimeS + elapsedS,
  };
  return {
    state: next,
    metrics: {
      temperature: round(clamp(temperatureC + noise(rand, 0.1), TEMP_MIN, TEMP_MAX), 2),
      battery: round(battery, 3),
      rssi: Math.round(clamp(state.rssiBaseDbm + noise(rand, 3), -120, -30)),
      uptime_s: Math.floor(next.uptimeS),
    },
  };
}

/** The state after a reboot: same hardware and battery, uptime from zero. */
export function rebootSensor(state: SensorState): SensorState {
  return { ...state, uptimeS: 0 };
}
