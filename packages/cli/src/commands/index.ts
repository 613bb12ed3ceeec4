import { type Command } from 'commander';
import { type CliIo } from '../context';
import { type ActionRunner } from './command-kit';
import { registerDevicesCommand } from './devices.command';
import { registerTelemetryCommand } from './telemetry.command';
import { registerTokenCommand } from './token.command';
import { registerCommandsCommand } from './commands.command';
import { registerProvisioningCommand } from './provisioning.command';
import { registerDevCommand } from './dev.command';
import { registerFirmwareCommand } from './firmware.command';
import { registerRolloutCommand } from './rollout.command';
import { registerDemoCommand } from './demo.command';

/** Adds one command group to the program; every group file exports one of these. */
export type CommandRegistrar = (program: Command, io: CliIo, run: ActionRunner) => void;

/**
 * Every command group, in help order. A new group (enroll, provision, cert, commands,
 * firmware, rollout, telemetry, demo) is a `<group>.command.ts` file plus one line here.
 */
export const commandGroups: readonly CommandRegistrar[] = [
  registerTokenCommand,
  registerDevicesCommand,
  registerTelemetryCommand,
  registerCommandsCommand,
  registerProvisioningCommand,
  registerDevCommand,
  registerFirmwareCommand,
  registerRolloutCommand,
  registerDemoCommand,
];
