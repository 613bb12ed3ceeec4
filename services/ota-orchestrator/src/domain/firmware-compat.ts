// Which devices an image runs on: its device type, and its hardware models (an empty list means
// every model of the type). Model names compare case-insensitively, surrounding spaces ignored.

/** The part of a firmware that decides compatibility. */
export interface FirmwareTarget {
  device_type: string;
  hardware_models: readonly string[];
}

/** The part of a device that decides compatibility. */
export interface DeviceHardware {
  device_type: string;
  hardware_model: string | null | undefined;
}

const norm = (model: string) => model.trim().toLowerCase();

/** Normalises a declared model list: trimmed, no empties, no duplicates (first spelling kept). */
export function normalizeHardwareModels(models: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const model of models) {
    const key = norm(model);
    if (key === '' || seen.has(key)) continue;
    seen.add(key);
    out.push(model.trim());
  }
  return out;
}

/** Why a device cannot take an image, or null when it can. */
export function incompatibility(
  firmware: FirmwareTarget,
  device: DeviceHardware,
): 'device_type' | 'hardware_model' | null {
  if (device.device_type !== firmware.device_type) return 'device_type';
  if (firmware.hardware_models.length === 0) return null;
  const model = device.hardware_model;
  if (model === null || model === undefined) return 'hardware_model';
  const wanted = norm(model);
  return firmware.hardware_models.some((m) => norm(m) === wanted) ? null : 'hardware_model';
}

/** True when the device can run the image. */
export function isCompatible(firmware: FirmwareTarget, device: DeviceHardware): boolean {
  return incompatibility(firmware, device) === null;
}
