import { type Naming } from '../naming';
import { eventSubject } from '../subjects';
import { type CloudEvent, parseEventType } from './cloud-event';

/** The subject an event is published on: `iot.evt.<tenant>.<aggregate>.<name>`. */
export function eventSubjectFor(n: Naming, event: Pick<CloudEvent, 'tenant' | 'type'>): string {
  const parts = parseEventType(event.type);
  if (parts === null) throw new Error(`not a Drover event type: ${String(event.type)}`);
  return eventSubject(n, event.tenant, parts.aggregate, parts.name);
}
