/**
 * Event Grid delivery to an `eventGrid` trigger: the event (Event Grid schema) goes to the function
 * as the host passes it (JSON trigger input, event properties as trigger metadata), and the outcome
 * comes back as success or failure so the caller can redeliver, as Event Grid does.
 */
import { z } from 'zod';
import type { RpcTypedData } from './functionsCore';
import type { FunctionInvoker } from './invoke';
import { firstLine } from './invoke';
import type { Registry } from './registry';
import type { EventDeliveryResult } from './httpHost';

export type { EventDeliveryResult } from './httpHost';

/** The Event Grid schema (what `@azure/functions`' `EventGridEvent` describes). */
export const eventGridEventSchema = z.object({
  id: z.string().min(1),
  topic: z.string().optional(),
  subject: z.string(),
  eventType: z.string().min(1),
  eventTime: z.string(),
  data: z.unknown().optional(),
  dataVersion: z.string().optional(),
  metadataVersion: z.string().optional(),
});

export type EventGridEventInput = z.infer<typeof eventGridEventSchema>;

function typed(value: unknown): RpcTypedData {
  return typeof value === 'string' ? { string: value } : { json: JSON.stringify(value ?? null) };
}

/** Delivers one event to the named `eventGrid` function. Never throws for a failing function. */
export async function deliverEventGridEvent(
  registry: Registry,
  invoker: FunctionInvoker,
  functionName: string,
  event: unknown,
): Promise<EventDeliveryResult> {
  const registration = registry.get(functionName);
  if (!registration || registration.triggerType.toLowerCase() !== 'eventgridtrigger') {
    return { ok: false, error: `'${functionName}' is not an Event Grid triggered function.` };
  }
  const parsed = eventGridEventSchema.safeParse(event);
  if (!parsed.success) {
    return { ok: false, error: `The event is not in the Event Grid schema: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` };
  }
  const delivered: EventGridEventInput = { metadataVersion: '1', dataVersion: '', ...parsed.data };
  const triggerMetadata: Record<string, RpcTypedData> = {};
  for (const [key, value] of Object.entries(delivered)) triggerMetadata[key] = typed(value);
  const outcome = await invoker.invoke({
    registration,
    trigger: { json: JSON.stringify(delivered) },
    triggerMetadata,
    reason: `EventGrid trigger fired for event '${delivered.id}'`,
  });
  return outcome.ok ? { ok: true } : { ok: false, error: firstLine(outcome.error.message) };
}
