/**
 * Keeping a credential alive: why a rotation runs, the policy a new credential is made and handed
 * over by, the inputs of the rotation and drift runs, and their steps as published in custom status.
 */
import type { EnvironmentRecord } from './environment';
import type { ConsentStrategy, DeliveryStrategy, RunStart } from './operations';

/** What started a rotation: the daily sweep, a Key Vault event, or a person. */
export type RotationReason = 'sweep' | 'near-expiry' | 'expired' | 'manual' | 'emergency';

/** How long and how often runs wait for Entra to show F&O using a credential (settings `EVIDENCE_*`). */
export interface EvidencePolicy {
  pollMinutes: number;
  timeoutHours: number;
  /** Drift: hours without a successful sign-in by F&O after which silence is a finding (0: never). */
  silenceHours: number;
}

/** How a replacement credential is made and handed over (from the settings; orchestrations cannot read them). */
export interface CredentialPolicy {
  secretLifetimeDays: number;
  delivery: DeliveryStrategy;
  /** Least hours the previous credential stays valid after F&O holds the new one. */
  graceHours: number;
  /** Hours after delivery when, if F&O has still not been seen using the new credential, the previous one is kept and a person told. */
  revokeMaxHours: number;
  leadDays: number;
  waits: { manualTimeoutHours: number; reminderHours: number };
  evidence: EvidencePolicy;
  /** Where F&O's own test send (FnoGraphMail extension) goes; absent: no test send. */
  finOpsTestRecipient?: string;
  /** Link for notifications (no key in it). */
  dashboardUrl?: string;
}

export interface RotationInput extends RunStart, CredentialPolicy {
  reason: RotationReason;
}

/** The drift check of one environment: what it finds is repaired by the same policies as setup and rotation. */
export interface DriftInput extends RunStart, CredentialPolicy {
  consent: ConsentStrategy;
}

/** What a drift run found and did: its output (ids and words only). */
export interface DriftReport {
  environmentId: string;
  /** Empty when nothing drifted (or the environment is not registered). */
  found: string[];
  done: string[];
  /** The environment as the run left it; absent when it is not registered. */
  record?: EnvironmentRecord;
}
