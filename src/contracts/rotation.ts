/**
 * The rotation operation's public shapes: why a rotation runs and the orchestration input built
 * from the trigger and the settings. Its steps are in `operations.ts`.
 */
import type { DeliveryStrategy } from './activities';

/** What started a rotation: the daily sweep, a Key Vault event, a person, or drift repair. */
export type RotationReason = 'sweep' | 'near-expiry' | 'expired' | 'manual' | 'drift';

export interface RotationInput {
  environmentId: string;
  reason: RotationReason;
  secretLifetimeDays: number;
  delivery: DeliveryStrategy;
  /** Hours the previous credential stays valid after F&O holds the new one. */
  graceHours: number;
  leadDays: number;
  waits: { manualTimeoutHours: number; reminderHours: number };
  /** Link for notifications (no key in it). */
  dashboardUrl?: string;
}
