/**
 * The environment: one F&O instance in one tenant, the unit everything else is keyed by. Its id is the
 * public handle (routes, instance ids, Key Vault secret names), so its grammar is defined once here;
 * the names derived from it are in `names.ts`. No runtime imports: the dashboard's browser script
 * uses these shapes too.
 */

import type { FinOpsEvidence } from './evidence';

/** Lowercase letters, digits and hyphens, starting with a letter or digit, at most 63 characters. */
export const ENVIRONMENT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** What a person is told when an id does not follow the grammar. */
export const ENVIRONMENT_ID_RULE = 'must be 1–63 lowercase letters, digits or hyphens, starting with a letter or digit';

export type EnvironmentId = string;

/** Where a credential lives: a Key Vault secret version, and the Entra credential it holds. Never the value. */
export interface SecretReference {
  secretName: string;
  secretVersion: string;
  keyId: string;
  /** ISO 8601 end of the credential (= the Key Vault version's `expiresOn`). */
  expiresOn: string;
}

/**
 * `unproven`: delivered, but Entra has not (yet) shown F&O signing in with the credential, or the
 * product cannot read sign-in logs. Expiry and delivery come first: they decide what runs.
 */
export type EnvironmentStatus = 'active' | 'unproven' | 'pending-delivery' | 'expiring' | 'expired' | 'disabled';

/** The fleet registry's view of one environment, read from Key Vault tags. */
export interface EnvironmentRecord {
  environmentId: EnvironmentId;
  environmentUrl: string;
  tenantId: string;
  appId: string;
  appObjectId: string;
  credential: SecretReference;
  status: EnvironmentStatus;
  /** Set when sending is limited to a group or mailboxes by Exchange RBAC for Applications. */
  mailboxScope?: string;
  /** What Entra and F&O have shown of F&O using the current credential; absent before the first reading. */
  finops?: FinOpsEvidence;
}

/** Body of `GET /api/environments`: ordered by environment id. */
export interface EnvironmentList {
  environments: EnvironmentRecord[];
}
