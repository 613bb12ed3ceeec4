// The faults the simulator injects, each a probability drawn from the device's seeded stream,
// and the per-device link traits (network delay, slow links, clock skew). Firmware faults are
// in firmware.ts.
import { type Random, chance } from './random';

/** Fault rates, each 0–1. */
export interface FaultProfile {
  /** Share of commands answered `failed`. */
  commandFailureRate: number;
  /** Share of telemetry messages sent malformed (invalid JSON). */
  malformedRate: number;
  /** Chance per telemetry tick that the device drops off abruptly (its last will fires). */
  flapRate: number;
}

/** No faults at all. */
export const NO_FAULTS: FaultProfile = { commandFailureRate: 0, malformedRate: 0, flapRate: 0 };

/** The faults of one moment, drawn from a device's fault stream. */
export interface FaultDraw {
  /** Fail this command. */
  failCommand(): boolean;
  /** Send this message malformed. */
  malformed(): boolean;
  /** Drop off now. */
  flap(): boolean;
}

/** Draws faults for one device from `profile` with the device's own stream. */
export function faultDraw(profile: FaultProfile, rand: Random): FaultDraw {
  return {
    failCommand: () => chance(rand, profile.commandFailureRate),
    malformed: () => chance(rand, profile.malformedRate),
    flap: () => chance(rand, profile.flapRate),
  };
}

/** Per-device link and clock traits, fixed for the run by the device's seed. */
export interface LinkProfile {
  /** Mean one-way network delay of every device, ms (0 = loopback speed). */
  networkDelayMs: number;
  /** Share of devices on a slow link: ten times the delay, at least 200 ms. */
  slowLinkRate: number;
  /** Share of devices whose clock is off. */
  clockSkewRate: number;
  /** Largest skew of such a clock, ms (either direction). */
  maxClockSkewMs: number;
}

/** A device's traits: its one-way delay (ms) and how far its clock is off (ms). */
export interface LinkTraits {
  /** One-way delay before each message in or out, ms. */
  delayMs: number;
  /** Added to the device's `ts`, ms. */
  clockSkewMs: number;
}

/** Draws a device's link traits (four draws, whatever the rates, so streams stay aligned). */
export function linkTraits(profile: LinkProfile, rand: Random): LinkTraits {
  const jitter = 0.5 + rand.next();
  const slow = rand.next() < profile.slowLinkRate;
  const skewed = rand.next() < profile.clockSkewRate;
  const direction = rand.next() * 2 - 1;
  const base = profile.networkDelayMs * jitter;
  return {
    delayMs: Math.round(slow ? Math.max(200, base * 10) : base),
    clockSkewMs: skewed ? Math.round(direction * profile.maxClockSkewMs) : 0,
  };
}
