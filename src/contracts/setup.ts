/**
 * The HTTP edge's schemas — the environment id of every route and the setup request body — and the
 * setup run's input built from a request and the settings. Its steps are in `operations.ts`.
 */
import { z } from 'zod';
import { ENVIRONMENT_ID_PATTERN, ENVIRONMENT_ID_RULE } from './environment';
import { DELIVERY_STRATEGIES, type ConsentStrategy, type DeliveryStrategy, type RunStart } from './operations';
import type { EvidencePolicy } from './rotation';

/** The `{environmentId}` of every route. */
export const environmentIdSchema = z.string().regex(ENVIRONMENT_ID_PATTERN, { message: ENVIRONMENT_ID_RULE });

/** The `{tenantId}` of the tenant routes (and the `tenantId` query of the environment list): a GUID, kept in lower case. */
export const tenantIdSchema = z
  .string()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, { message: 'must be a tenant id (a GUID)' })
  .transform((s) => s.toLowerCase());

/**
 * A mailbox or group address as the product accepts it: a plain address of letters, digits and
 * `._%+-` at a DNS domain. Addresses go into commands an administrator pastes and into Graph paths, so
 * quotes, spaces and anything else a shell or a URL reads are refused rather than escaped.
 */
export const MAILBOX_ADDRESS_PATTERN = /^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
const MAILBOX_ADDRESS_RULE = 'must be a plain email address (letters, digits and ._%+- before the @, a domain after it)';

export const mailboxAddressSchema = z
  .string({ message: 'must be a string' })
  .max(254, { message: 'must be at most 254 characters' })
  .regex(MAILBOX_ADDRESS_PATTERN, { message: MAILBOX_ADDRESS_RULE })
  .transform((m) => m.toLowerCase());

/**
 * A display name: letters, digits, spaces and `&()._,:+-`. Names reach the Entra portal, mail and
 * logs; nothing a shell, a query or a template reads (quotes, `$`, backticks, `;`, `|`, `<>`, braces) gets in.
 */
export const DISPLAY_NAME_PATTERN = /^[\p{L}\p{N} &()._,:+-]+$/u;
export const DISPLAY_NAME_RULE = 'may contain only letters, digits, spaces and & ( ) . _ , : + -';

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Body of `POST /api/environments/{environmentId}/setup`. Unknown fields are rejected. */
export const setupRequestSchema = z.strictObject({
  environmentUrl: z
    .string({ message: 'must be a string' })
    .max(2048, { message: 'is too long' })
    // The URL parser would silently strip them; a URL carrying them was not typed by a person.
    // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
    .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), { message: 'must not contain control characters' }),
  tenantId: z.string({ message: 'must be a string' }).regex(GUID, { message: 'must be a GUID' }).transform((s) => s.toLowerCase()).optional(),
  appDisplayName: z
    .string({ message: 'must be a string' })
    .trim()
    .min(1, { message: 'must not be empty' })
    .max(120, { message: 'must be at most 120 characters' })
    .regex(DISPLAY_NAME_PATTERN, { message: DISPLAY_NAME_RULE })
    .optional(),
  secretLifetimeDays: z
    .number({ message: 'must be a number' })
    .int({ message: 'must be a whole number' })
    .min(1, { message: 'must be at least 1' })
    .max(730, { message: 'must be at most 730' })
    .optional(),
  senderMailbox: mailboxAddressSchema.optional(),
  testRecipient: mailboxAddressSchema.optional(),
  consent: z.enum(['grant', 'request'], { message: 'must be "grant" or "request"' }).optional(),
  delivery: z.enum(DELIVERY_STRATEGIES, { message: 'must be "auto", "odata" or "manual"' }).optional(),
  mailboxScope: z
    .strictObject({
      groupOrMailboxes: z.union(
        [
          mailboxAddressSchema,
          z.array(mailboxAddressSchema).min(1, { message: 'must list at least one mailbox' }).max(200, { message: 'must list at most 200 mailboxes (use a group)' }),
        ],
        { message: 'must be the address of a mail-enabled security group or a list of mailbox addresses' },
      ),
      outOfScopeTestMailbox: mailboxAddressSchema.optional(),
    })
    .optional(),
});

/** Mailbox scoping (Exchange Online RBAC for Applications): a group, or an explicit list of mailboxes. */
export interface MailboxScope {
  group?: string;
  mailboxes?: string[];
  /** A mailbox outside the scope, used to prove that sending as it is refused. */
  outOfScopeTestMailbox?: string;
}

/** The registry tag value describing a scope (group address, or mailbox addresses). */
export function describeMailboxScope(scope: MailboxScope): string {
  return (scope.group ? `group:${scope.group}` : `mailboxes:${(scope.mailboxes ?? []).join(';')}`).toLowerCase().slice(0, 256);
}

export type SetupRequest = z.output<typeof setupRequestSchema>;

/** Orchestration input: the request resolved against the settings (orchestrators cannot read settings). */
export interface SetupInput extends RunStart {
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
  evidence: EvidencePolicy;
  /** Where F&O's own test send goes (FnoGraphMail extension): the request's test recipient, else the first alert recipient. */
  finOpsTestRecipient?: string;
  /** Renew the credential during setup when it has fewer days left than this. */
  minRemainingDays: number;
  /** Restrict the mailboxes the app may send as (the optional last step). */
  mailboxScope?: MailboxScope;
  /** Link for notifications (no key in it). */
  dashboardUrl?: string;
}
