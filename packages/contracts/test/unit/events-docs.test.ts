// docs/events.md is the users' event catalog: it must describe every event in the code, every
// data field, and every example on it must validate.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REJECT_REASONS, eventCatalog, parseDeviceMessage, parseEvent } from '../../src';

const doc = readFileSync(join(__dirname, '../../../../docs/events.md'), 'utf8');

/** The `### <type>` sections of the page. */
function sections(): Map<string, string> {
  const out = new Map<string, string>();
  const parts = doc.split(/^### /m).slice(1);
  for (const part of parts) {
    const [heading, ...body] = part.split('\n');
    out.set(heading!.trim(), body.join('\n').split(/^## /m)[0]!);
  }
  return out;
}

const jsonBlocks = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]!);

describe('docs/events.md', () => {
  const bySection = sections();

  it.each(eventCatalog.map((d) => [d.type, d] as const))('describes %s', (type, def) => {
    const section = bySection.get(type);
    expect(section).toBeDefined();
    expect(section).toContain(`iot.evt.<tenant>.${def.aggregate}.${def.name}`);
    for (const field of Object.keys(def.schema.properties)) {
      expect(section).toContain(`| \`${field}\` |`);
    }
  });

  it('describes no event that does not exist', () => {
    expect([...bySection.keys()].sort()).toEqual(eventCatalog.map((d) => d.type).sort());
  });

  it('has one valid example per event', () => {
    const types = jsonBlocks.map((block) => {
      const parsed = parseEvent(block);
      if (!parsed.ok) throw new Error(`${parsed.reason}: ${parsed.detail}\n${block}`);
      return parsed.event.type;
    });
    expect(types.sort()).toEqual(eventCatalog.map((d) => d.type).sort());
    for (const block of jsonBlocks) {
      const type = (JSON.parse(block) as { type: string }).type;
      expect(bySection.get(type)).toContain(block);
    }
  });

  it('lists every reject reason', () => {
    const section = bySection.get('drover.telemetry.rejected.v1')!;
    for (const reason of REJECT_REASONS) expect(section).toContain(`| \`${reason}\` |`);
  });

  it('shows a rejection detail the ingress really produces', () => {
    const payload = { msg_id: 'm', ts: Date.now(), schema_version: 1, metrics: { 'bad key': 1 } };
    const r = parseDeviceMessage('telemetry', Buffer.from(JSON.stringify(payload)));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(doc).toContain(`"detail": "${r.detail}"`);
  });
});
