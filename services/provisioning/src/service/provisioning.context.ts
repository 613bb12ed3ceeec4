// What the use cases get from the composition root (app.ts): no globals, no container.
import { type Kysely } from 'kysely';
import { type Naming } from '@drover/contracts';
import { type Logger } from '@drover/observability';
import { type FleetPki } from '@drover/pki';
import { type CloudProvider } from '../adapters/cloud/cloud-provider';
import { type ResultCipher } from '../adapters/crypto/result-cipher';
import { type CommandRequester } from '../adapters/nats/command.requester';
import { type DB } from '../adapters/postgres/schema';

/** The service name: RPC service, event source, logger name. */
export const SERVICE_NAME = 'provisioning';

/** Lifecycle tuning. */
export interface LifecycleSettings {
  /** Validity of issued certificates. */
  certValidityDays: number;
  /** Renewal window before expiry. */
  renewBeforeDays: number;
  /** Minimum time between two rotation requests to a device. */
  rotateRetryMs: number;
  /** Lifetime of a `certificate.rotate` command. */
  rotateCommandTtlMs: number;
  /** How long a CRL is valid (its nextUpdate). */
  crlValidityDays: number;
  /** How long answers are kept for retried requests. */
  resultRetentionMs: number;
}

/** Dependencies of the use cases. */
export interface ProvisioningContext {
  /** The service's schema. */
  db: Kysely<DB>;
  /** Namespace of subjects. */
  naming: Naming;
  /** Root, fleet and bootstrap CAs. */
  pki: FleetPki;
  /** Where identities live. */
  cloud: CloudProvider;
  /** Sends `certificate.rotate` commands (command-gateway first). */
  commands: CommandRequester;
  /** Writes the CRL file (atomically) for the broker. */
  writeCrl(pem: string): Promise<void>;
  /** Wakes the outbox relay after a commit. */
  notifyOutbox(): void;
  /** Logger. */
  logger: Logger;
  /** Clock. */
  now(): Date;
  /** Encrypts the private keys of stored answers (request_results) at rest. */
  resultCipher: ResultCipher;
  /** Tuning. */
  settings: LifecycleSettings;
}
