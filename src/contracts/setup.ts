/**
 * The setup operation's public shapes: the HTTP request body (validated at the edge), the
 * orchestration input built from it and the settings, and the progress published as custom status.
 */
import { z } from 'zod';
import type { ConsentStrategy, DeliveryStrategy, ManualDeliveryInstructions } from './activities';

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Body of `POST /api/environments/{environmentId}/setup`. Unknown fields are rejected. */
export const setupRequestSchema = z.strictObject({
  environmentUrl: z.string({ message: 'must be a string' }).max(2048, { message: 'is too long' }),
  tenantId: z.string({ message: 'must be a string' }).regex(GUID, { message: 'must be a GUID' }).transform((s) => s.toLowerCase()).optional(),
  appDisplayName: z
    .string({ message: 'must be a string' })
    .trim()
    .min(1, { message: 'must not be empty' })
    .max(120, { message: 'must be at most 120 characters' })
    // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
    .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), { message: 'must not contain control characters' })
    .optional(),
  secretLifetimeDays: z
    .number({ message: 'must be a number' })
    .int({ message: 'must be a whole number' })
    .min(1, { message: 'must be at least 1' })
    .max(730, { message: 'must be at most 730' })
    .optional(),
  senderMailbox: z.string({ message: 'must be a string' }).email({ message: 'must be an email address' }).optional(),
  testRecipient: z.string({ message: 'must be a string' }).email({ message: 'must be an email address' }).optional(),
  consent: z.enum(['grant', 'request'], { message: 'must be "grant" or "request"' }).optional(),
  delivery: z.enum(['odata', 'manual'], { message: 'must be "odata" or "manual"' }).optional(),
});

export type SetupRequest = z.output<typeof setupRequestSchema>;

/** Orchestration input: the request resolved against the settings (orchestrators cannot read settings). */
export interface SetupInput {
  environmentId: string;
  environmentUrl: string;
  tenantId: string;
  appDisplayName: string;
  secretLifetimeDays: number;
  senderMailbox?: string;
  testRecipient?: string;
  consent: ConsentStrategy;
  delivery: DeliveryStrategy;
  waits: {
    consentTimeoutHours: number;
    consentPollMinutes: number;
    manualTimeoutHours: number;
    reminderHours: number;
  };
  /** Renew the credential during setup when it has fewer days left than this. */
  minRemainingDays: number;
}

export type StepStatus = 'pending' | 'running' | 'waiting' | 'succeeded' | 'skipped' | 'failed';

export interface StepState {
  name: string;
  status: StepStatus;
  detail?: string;
}

/** What a run waits for, published so a person (or the dashboard) can act. */
export interface WaitingFor {
  event: string;
  /** ISO time when the wait times out. */
  until: string;
  instructions: ConsentInstructions | ManualDeliveryInstructions;
}

export interface ConsentInstructions {
  consentUrl: string;
  steps: string[];
}

export interface OperationStatus {
  steps: StepState[];
  waitingFor?: WaitingFor;
}

/** External events a run may wait for. */
export const EXTERNAL_EVENTS = ['ConsentGranted', 'EmailParametersUpdated'] as const;
export type ExternalEventName = (typeof EXTERNAL_EVENTS)[number];

export const SETUP_STEPS = [
  'registerApplication',
  'ensureServicePrincipal',
  'grantAdminConsent',
  'createClientSecret',
  'deliverToFinOps',
  'verifyCredential',
] as const;
