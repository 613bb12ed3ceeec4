/** A device as the REST API returns it (snake_case, see docs/api.md). */
export interface DeviceView {
  /** The device id, unique in the tenant. */
  device_id: string;
  /** The owning tenant. */
  tenant: string;
  /** The device type, e.g. `sensor`. */
  device_type: string;
  /** The hardware id (serial); the API may omit it. */
  hardware_id?: string;
  /** The hardware model, if known. */
  hardware_model: string | null;
  /** `active` or `decommissioned`. */
  status: string;
  /** `online`, `offline` or `unknown`. */
  connectivity: string;
  /** When the device was last heard from (RFC 3339). */
  last_seen: string | null;
  /** The firmware version the device last reported. */
  firmware_version: string | null;
  /** Tags. */
  tags: string[];
  /** Flat attributes. */
  attributes: Record<string, string | number | boolean>;
  /** The current certificate summary, if one was issued. */
  certificate: { serial: string; not_after: string; status: string } | null;
  /** Creation time (RFC 3339). */
  created_at: string;
  /** Last update time (RFC 3339). */
  updated_at: string;
}

/** One page of a list answer. */
export interface Page<T> {
  /** The items on this page. */
  items: T[];
  /** The cursor of the next page, null on the last one. */
  next_cursor: string | null;
}
