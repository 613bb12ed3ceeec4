// Where and how the ingress reaches its broker: the URL and, for `mqtts://`, the TLS client
// settings (the platform listener of the mTLS broker: the ingress shows its own certificate and
// checks the broker's against MQTT_CA_FILE). Plain `mqtt://` stays as it was (tests, simulator).
import { readFileSync } from 'node:fs';
import { type IClientOptions } from 'mqtt';
import { ConfigError, type ConfigIssue } from '@drover/service-kit';

/** The TLS part of the connect options (PEM text read once at start). */
export interface MqttTlsOptions {
  /** Trust anchors of the broker's certificate (undefined: Node's default CAs). */
  ca?: string[];
  /** Client certificate (chain) PEM. */
  cert?: string;
  /** Client key PEM. */
  key?: string;
  /** Expected name in the broker's certificate (default: the URL's host). */
  servername?: string;
}

/** A broker to connect to. */
export interface BrokerTarget {
  /** `mqtt://` or `mqtts://` URL. */
  url: string;
  /** TLS settings; present exactly when the URL is `mqtts://` (or `wss://`). */
  tls?: MqttTlsOptions;
}

/** The configuration keys {@link brokerTarget} reads. */
export interface BrokerConfig {
  MQTT_URL: string;
  MQTT_CA_FILE?: string;
  MQTT_CERT_FILE?: string;
  MQTT_KEY_FILE?: string;
  MQTT_TLS_SERVERNAME?: string;
}

const TLS_PROTOCOLS = new Set(['mqtts:', 'wss:', 'ssl:', 'tls:']);

/** Splits a PEM bundle into its certificates (Node wants one entry per CA). */
export function splitPemBundle(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function readPem(variable: string, file: string, issues: ConfigIssue[]): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    issues.push({ variable, reason: `cannot read ${file}: ${(err as Error).message}` });
    return undefined;
  }
}

/**
 * Checks the broker settings together and reads the PEM files. Throws a ConfigError naming
 * each bad variable: TLS files with a plain URL, a certificate without its key (or the other
 * way round), an unreadable file, a CA file without any certificate.
 */
export function brokerTarget(config: BrokerConfig): BrokerTarget {
  const issues: ConfigIssue[] = [];
  let protocol: string;
  try {
    protocol = new URL(config.MQTT_URL).protocol;
  } catch (err) {
    const reason = `not a URL (${(err as Error).message})`;
    throw new ConfigError([{ variable: 'MQTT_URL', reason }]);
  }
  const tlsVars = (
    ['MQTT_CA_FILE', 'MQTT_CERT_FILE', 'MQTT_KEY_FILE', 'MQTT_TLS_SERVERNAME'] as const
  ).filter((k) => config[k] !== undefined);
  if (!TLS_PROTOCOLS.has(protocol)) {
    if (tlsVars.length > 0) {
      throw new ConfigError(
        tlsVars.map((variable) => ({
          variable,
          reason: `set, but MQTT_URL is ${protocol}// (use mqtts:// for TLS)`,
        })),
      );
    }
    return { url: config.MQTT_URL };
  }
  if ((config.MQTT_CERT_FILE === undefined) !== (config.MQTT_KEY_FILE === undefined)) {
    const missing = config.MQTT_CERT_FILE === undefined ? 'MQTT_CERT_FILE' : 'MQTT_KEY_FILE';
    issues.push({ variable: missing, reason: 'required with its pair (certificate and key)' });
  }
  const tls: MqttTlsOptions = {};
  if (config.MQTT_CA_FILE !== undefined) {
    const text = readPem('MQTT_CA_FILE', config.MQTT_CA_FILE, issues);
    if (text !== undefined) {
      tls.ca = splitPemBundle(text);
      if (tls.ca.length === 0) {
        issues.push({ variable: 'MQTT_CA_FILE', reason: 'holds no PEM certificate' });
      }
    }
  }
  if (config.MQTT_CERT_FILE !== undefined) {
    tls.cert = readPem('MQTT_CERT_FILE', config.MQTT_CERT_FILE, issues);
  }
  if (config.MQTT_KEY_FILE !== undefined) {
    tls.key = readPem('MQTT_KEY_FILE', config.MQTT_KEY_FILE, issues);
  }
  if (config.MQTT_TLS_SERVERNAME !== undefined) tls.servername = config.MQTT_TLS_SERVERNAME;
  if (issues.length > 0) throw new ConfigError(issues);
  return { url: config.MQTT_URL, tls };
}

/** The mqtt.js options of a target's TLS settings ({} for plain MQTT). */
export function tlsConnectOptions(tls: MqttTlsOptions | undefined): Partial<IClientOptions> {
  if (tls === undefined) return {};
  return {
    // Never accept a broker whose certificate does not verify, whatever NODE_TLS_* says.
    rejectUnauthorized: true,
    ...(tls.ca !== undefined && { ca: tls.ca }),
    ...(tls.cert !== undefined && { cert: tls.cert }),
    ...(tls.key !== undefined && { key: tls.key }),
    ...(tls.servername !== undefined && { servername: tls.servername }),
  };
}
