// The faults the simulator injects, each a probability drawn from the device's seeded stream.
// Only the cheap ones for now; OTA failure per firmware, boot loops, slow links and clock skew
// come with OTA (issue 6).
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
