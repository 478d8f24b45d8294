/**
 * App settings, parsed once. Every setting the product reads is declared here (and nowhere else reads
 * `process.env`): a missing or malformed value fails start-up with one error naming every bad key.
 * The same key list feeds `local.settings.sample.json`, the settings table of docs/settings.md and the Bicep
 * app settings; a test keeps them in step.
 */
import { z } from 'zod';
import { GRAPH_CREDENTIAL_ENTITY } from './contracts/finopsExtension';
import { DELIVERY_STRATEGIES, type DeliveryStrategy } from './contracts/operations';
import { DISPLAY_NAME_PATTERN, DISPLAY_NAME_RULE, MAILBOX_ADDRESS_PATTERN } from './contracts/setup';

const intInRange = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, { message: 'must be a whole number' })
    .transform(Number)
    .pipe(z.number().int().min(min, { message: `must be at least ${min}` }).max(max, { message: `must be at most ${max}` }));

const httpsUrl = z
  .string()
  .trim()
  .url({ message: 'must be an absolute URL' })
  .refine((u) => new URL(u).protocol === 'https:', { message: 'must use https' })
  .transform((u) => u.replace(/\/+$/, ''));

const list = z
  .string()
  .transform((s) =>
    s
      .split(/[,;\s]+/)
      .map((x) => x.trim())
      .filter((x) => x.length > 0),
  );

const emailList = list.pipe(z.array(z.string().regex(MAILBOX_ADDRESS_PATTERN, { message: 'must be a comma-separated list of plain email addresses' })));

const guid = z
  .string()
  .trim()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, { message: 'must be a GUID' })
  .transform((s) => s.toLowerCase());

/** NCRONTAB with six fields (seconds first), as the Functions timer trigger takes it. */
const ncrontab = z
  .string()
  .trim()
  .refine((s) => s.split(/\s+/).length === 6, { message: 'must be an NCRONTAB expression with six fields, e.g. "0 0 3 * * *"' });

/**
 * Each setting: its schema (string in, typed value out), its default (as the string the user would
 * write), and one line for the settings table.
 */
export const SETTINGS = {
  DURABLE_TASK_HUB: {
    schema: z.string().trim().regex(/^[A-Za-z][A-Za-z0-9]{2,44}$/, { message: 'must be 3–45 letters or digits, starting with a letter' }),
    default: 'FnoGraphMail',
    description: 'Durable Functions task hub name (host.json reads it as %DURABLE_TASK_HUB%).',
  },
  ENTRA_TENANT_ID: {
    schema: guid,
    default: undefined,
    description: 'Home tenant (directory) id: where the function app’s identity, the vault and alert mail live, and where environment apps are registered unless a setup names an onboarded customer tenant (partner mode).',
  },
  AZURE_CLIENT_ID: {
    schema: z.union([z.literal(''), guid]),
    default: '',
    description: 'Client id of the function app’s user-assigned managed identity (empty: system-assigned identity or developer sign-in).',
  },
  OPERATOR_CLIENT_ID: {
    schema: z.union([z.literal(''), guid], { message: 'must be a GUID (the operator application’s client id) or empty' }),
    default: '',
    description:
      'Partner mode: client id of the multi-tenant operator application whose only credential is a federated credential trusting the function app’s managed identity (the template creates it with `PARTNER_MODE=true`). The product acts in each onboarded customer tenant as that application (empty: single tenant, the identity acts in the home tenant only).',
  },
  AUTHORITY_HOST: {
    schema: httpsUrl,
    default: 'https://login.microsoftonline.com',
    description: 'Entra authority host (national clouds: https://login.microsoftonline.us, https://login.chinacloudapi.cn).',
  },
  GRAPH_BASE_URL: {
    schema: httpsUrl,
    default: 'https://graph.microsoft.com',
    description: 'Microsoft Graph endpoint (national clouds: https://graph.microsoft.us, https://microsoftgraph.chinacloudapi.cn).',
  },
  KEY_VAULT_URL: {
    schema: httpsUrl,
    default: undefined,
    description: 'Key Vault that holds every environment’s client secret and, in its tags, the fleet registry.',
  },
  FINOPS_ALLOWED_HOSTS: {
    schema: list.pipe(z.array(z.string().regex(/^(\*\.)?[a-z0-9.-]+(:\d{1,5})?$/i, { message: 'entries must be host names, *.suffix wildcards or host:port' })).min(1, { message: 'must list at least one host' })),
    default: '*.operations.dynamics.com',
    description:
      'F&O hosts the product may send a secret to (comma-separated; `*.suffix` matches one or more labels; `host:port` pins a port). Cloud-hosted development environments (`*.cloudax.dynamics.com`) run in customers\' own subscriptions: add them only on purpose.',
  },
  FINOPS_CREDENTIAL_ENTITY: {
    schema: z.string().trim().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'must be an OData entity set name' }),
    default: GRAPH_CREDENTIAL_ENTITY.entitySet,
    description: 'Entity set of the customer-deployed F&O extension that stores the Graph application id and secret (delivery strategy `odata`).',
  },
  FINOPS_CREDENTIAL_KEY: {
    schema: z.string().trim(),
    default: '',
    description: "OData key of the record in that entity set, e.g. `ID='GRAPH'` (empty: the key of the EmailParameters record).",
  },
  FINOPS_CREDENTIAL_APP_ID_FIELD: {
    schema: z.string().trim().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'must be an OData property name' }),
    default: GRAPH_CREDENTIAL_ENTITY.fields.applicationId,
    description: 'Property of that entity holding the application (client) id.',
  },
  FINOPS_CREDENTIAL_SECRET_FIELD: {
    schema: z.string().trim().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'must be an OData property name' }),
    default: GRAPH_CREDENTIAL_ENTITY.fields.clientSecret,
    description: 'Property of that entity holding the client secret (write-only).',
  },
  CONSENT_STRATEGY: {
    schema: z.enum(['grant', 'request'], { message: 'must be "grant" or "request"' }),
    default: 'grant',
    description: '`grant`: the identity grants admin consent itself; `request`: publish the admin-consent URL and wait for an administrator.',
  },
  DELIVERY_STRATEGY: {
    schema: z.enum(DELIVERY_STRATEGIES, { message: 'must be "auto", "odata" or "manual"' }),
    default: 'auto',
    description:
      '`auto`: read F&O’s metadata once per run and write through the FnoGraphMail extension where it is installed, else publish instructions; `odata`: always write through the extension; `manual`: publish instructions and wait for a person.',
  },
  APP_DISPLAY_NAME_TEMPLATE: {
    schema: z
      .string()
      .trim()
      .min(1)
      .max(100)
      .refine((s) => s.includes('{environmentId}'), { message: 'must contain {environmentId}' })
      .refine((s) => DISPLAY_NAME_PATTERN.test(s.replaceAll('{environmentId}', 'x')), { message: `besides {environmentId}, ${DISPLAY_NAME_RULE}` }),
    default: 'F&O Graph mail ({environmentId})',
    description: 'Display name of each environment’s app registration.',
  },
  SECRET_LIFETIME_DAYS: {
    schema: intInRange(1, 730),
    default: '180',
    description: 'Lifetime of each new client secret, in days (1–730; a tenant policy may allow less).',
  },
  ROTATION_LEAD_DAYS: {
    schema: intInRange(1, 365),
    default: '30',
    description: 'Rotate when the current secret expires within this many days (setup also renews such a credential).',
  },
  ROTATION_GRACE_HOURS: {
    schema: intInRange(0, 720),
    default: '24',
    description: 'Least hours the previous secret stays valid after F&O receives the new one (0 allowed); it is revoked only once Entra shows F&O using the new one.',
  },
  ROTATION_REVOKE_MAX_HOURS: {
    schema: intInRange(1, 2160),
    default: '168',
    description:
      'After a rotation the previous secret is revoked once the grace period has passed and Entra shows F&O signing in with the new one and not the old; past this many hours without that, an alert is raised and the previous secret stays (never less than `ROTATION_GRACE_HOURS`).',
  },
  EVIDENCE_POLL_MINUTES: {
    schema: intInRange(1, 1440),
    default: '5',
    description: 'How often a run waiting for F&O to use a credential reads the Entra sign-in log (5 requests per 10 s per tenant is Graph’s limit for it).',
  },
  EVIDENCE_TIMEOUT_HOURS: {
    schema: intInRange(1, 720),
    default: '72',
    description: 'How long setup, rotation and repair wait for Entra to show F&O signing in with a delivered credential before they fail.',
  },
  EVIDENCE_SILENCE_HOURS: {
    schema: intInRange(0, 2160),
    default: '48',
    description:
      'The drift check raises an alert when F&O has not signed in with its current credential for longer than this while its batch provider is Graph (0: never; raise it for environments that send rarely).',
  },
  ROTATION_SWEEP_SCHEDULE: {
    schema: ncrontab,
    default: '0 0 3 * * *',
    description: 'NCRONTAB schedule of the rotation sweep timer (default daily at 03:00 UTC).',
  },
  DRIFT_CHECK_SCHEDULE: {
    schema: ncrontab,
    default: '0 30 4 * * *',
    description: 'NCRONTAB schedule of the drift check (deleted credentials, orphans, revoked consent), default daily at 04:30 UTC.',
  },
  ROTATION_CONCURRENCY: {
    schema: intInRange(1, 100),
    default: '10',
    description: 'Rotations the sweep starts at once.',
  },
  CONSENT_TIMEOUT_HOURS: {
    schema: intInRange(1, 720),
    default: '72',
    description: 'How long a setup with consent strategy `request` waits for an administrator.',
  },
  CONSENT_POLL_MINUTES: {
    schema: intInRange(1, 1440),
    default: '5',
    description: 'How often a waiting setup checks Graph for consent.',
  },
  MANUAL_DELIVERY_TIMEOUT_HOURS: {
    schema: intInRange(1, 720),
    default: '72',
    description: 'How long delivery strategy `manual` waits for EmailParametersUpdated.',
  },
  MANUAL_DELIVERY_REMINDER_HOURS: {
    schema: intInRange(1, 720),
    default: '24',
    description: 'Interval of reminders while a run waits for a person.',
  },
  SECRET_READER_PRINCIPAL_ID: {
    schema: z.union([z.literal(''), guid]),
    default: '',
    description:
      'Object id of the person or group that holds Key Vault Secrets User on the vault (in Azure the deployment grants it from the same azd setting); manual delivery instructions name it as who can read a new secret (empty: they say to ask whoever manages the vault). The product grants nothing with it.',
  },
  SENDER_MAILBOX: {
    schema: z.union([z.literal(''), z.string().trim().regex(MAILBOX_ADDRESS_PATTERN, { message: 'must be a plain email address' })]),
    default: '',
    description: 'The only mailbox test messages and alerts are sent from (empty: no test message, no alert mail); a request cannot choose another.',
  },
  DASHBOARD_URL: {
    schema: z.union([z.literal(''), httpsUrl]),
    default: '',
    description: 'Public URL of the dashboard (`https://<app host name>/api/dashboard`; in Azure set from the app’s default host name), linked from notification mail; never include the key.',
  },
  ALERT_RECIPIENTS: {
    schema: z.union([z.literal('').transform(() => [] as string[]), emailList]),
    default: '',
    description: 'Comma-separated addresses that receive alert and action-needed mail.',
  },
} as const;

export type SettingName = keyof typeof SETTINGS;
export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

/**
 * host.json's `extensions.durableTask.storageProvider.maxQueuePollingInterval`, overridden by an app setting
 * (https://learn.microsoft.com/azure/azure-functions/functions-host-json#override-hostjson-values). The
 * Durable Functions extension resolves `%SETTING%` only in the task hub name and the connection name, so
 * host.json cannot read this value from a setting of another name.
 */
export const DURABLE_QUEUE_POLLING_SETTING = 'AzureFunctionsJobHost__extensions__durableTask__storageProvider__maxQueuePollingInterval';

/** Settings the Functions host itself reads; they appear in local.settings and Bicep but not in AppConfig. */
export const HOST_SETTING_NAMES = ['AzureWebJobsStorage', 'FUNCTIONS_WORKER_RUNTIME', DURABLE_QUEUE_POLLING_SETTING] as const;

/** What the settings table says about the host's settings (the product does not parse them). */
export const HOST_SETTINGS: Readonly<Record<(typeof HOST_SETTING_NAMES)[number], { default: string | undefined; description: string }>> = {
  AzureWebJobsStorage: { default: undefined, description: 'Storage of the Durable Functions task hub (read by the Functions host).' },
  FUNCTIONS_WORKER_RUNTIME: { default: 'node', description: 'Read by the Functions host.' },
  [DURABLE_QUEUE_POLLING_SETTING]: {
    default: '00:00:10',
    description:
      "Longest wait between two polls of the Durable Functions queues while they are empty (read by the Functions host, overriding host.json). Microsoft's guidance for Durable Functions on Flex Consumption is 10 seconds or less; shorter starts steps sooner and costs more storage transactions. In Azure: `azd env set DURABLE_QUEUE_POLLING_INTERVAL 00:00:05`.",
  },
};

export interface AppConfig {
  taskHub: string;
  tenantId: string;
  managedIdentityClientId: string | undefined;
  /** Partner mode: the multi-tenant operator application's client id (undefined: single tenant). */
  operatorClientId: string | undefined;
  authorityHost: string;
  graphBaseUrl: string;
  keyVaultUrl: string;
  finOps: {
    allowedHosts: string[];
    credentialEntity: { entitySet: string; key: string | undefined; applicationIdField: string; secretField: string };
  };
  consentStrategy: 'grant' | 'request';
  deliveryStrategy: DeliveryStrategy;
  appDisplayNameTemplate: string;
  secretLifetimeDays: number;
  rotation: { leadDays: number; graceHours: number; revokeMaxHours: number; sweepSchedule: string; driftSchedule: string; concurrency: number };
  evidence: { pollMinutes: number; timeoutHours: number; silenceHours: number };
  consent: { timeoutHours: number; pollMinutes: number };
  manualDelivery: { timeoutHours: number; reminderHours: number; secretReaderPrincipalId: string | undefined };
  senderMailbox: string | undefined;
  alertRecipients: string[];
  dashboardUrl: string | undefined;
}

export class ConfigError extends Error {
  constructor(readonly problems: Array<{ key: string; problem: string }>) {
    super(
      `The app settings are not usable: ${problems.map((p) => `${p.key} ${p.problem}`).join('; ')}. ` +
        'See the settings table in docs/settings.md.',
    );
    this.name = 'ConfigError';
  }
}

type Parsed = { [K in SettingName]: z.output<(typeof SETTINGS)[K]['schema']> };

/** Parses every setting, collecting all problems before failing. */
export function loadConfig(env: Record<string, string | undefined>): AppConfig {
  const problems: Array<{ key: string; problem: string }> = [];
  const values: Partial<Record<SettingName, unknown>> = {};
  for (const key of SETTING_NAMES) {
    const spec = SETTINGS[key];
    const raw = env[key];
    const given = raw !== undefined && raw.trim() !== '' ? raw : spec.default;
    if (given === undefined) {
      problems.push({ key, problem: 'is missing' });
      continue;
    }
    const result = (spec.schema as z.ZodType).safeParse(given);
    if (result.success) values[key] = result.data;
    else problems.push({ key, problem: result.error.issues[0]?.message ?? 'is invalid' });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const v = values as Parsed;
  return {
    taskHub: v.DURABLE_TASK_HUB,
    tenantId: v.ENTRA_TENANT_ID,
    managedIdentityClientId: v.AZURE_CLIENT_ID || undefined,
    operatorClientId: v.OPERATOR_CLIENT_ID || undefined,
    authorityHost: v.AUTHORITY_HOST,
    graphBaseUrl: v.GRAPH_BASE_URL,
    keyVaultUrl: v.KEY_VAULT_URL,
    finOps: {
      allowedHosts: v.FINOPS_ALLOWED_HOSTS,
      credentialEntity: {
        entitySet: v.FINOPS_CREDENTIAL_ENTITY,
        key: v.FINOPS_CREDENTIAL_KEY || undefined,
        applicationIdField: v.FINOPS_CREDENTIAL_APP_ID_FIELD,
        secretField: v.FINOPS_CREDENTIAL_SECRET_FIELD,
      },
    },
    consentStrategy: v.CONSENT_STRATEGY,
    deliveryStrategy: v.DELIVERY_STRATEGY,
    appDisplayNameTemplate: v.APP_DISPLAY_NAME_TEMPLATE,
    secretLifetimeDays: v.SECRET_LIFETIME_DAYS,
    rotation: {
      leadDays: v.ROTATION_LEAD_DAYS,
      graceHours: v.ROTATION_GRACE_HOURS,
      // A maximum below the minimum means the minimum.
      revokeMaxHours: Math.max(v.ROTATION_REVOKE_MAX_HOURS, v.ROTATION_GRACE_HOURS),
      sweepSchedule: v.ROTATION_SWEEP_SCHEDULE,
      driftSchedule: v.DRIFT_CHECK_SCHEDULE,
      concurrency: v.ROTATION_CONCURRENCY,
    },
    evidence: { pollMinutes: v.EVIDENCE_POLL_MINUTES, timeoutHours: v.EVIDENCE_TIMEOUT_HOURS, silenceHours: v.EVIDENCE_SILENCE_HOURS },
    consent: { timeoutHours: v.CONSENT_TIMEOUT_HOURS, pollMinutes: v.CONSENT_POLL_MINUTES },
    manualDelivery: {
      timeoutHours: v.MANUAL_DELIVERY_TIMEOUT_HOURS,
      reminderHours: v.MANUAL_DELIVERY_REMINDER_HOURS,
      secretReaderPrincipalId: v.SECRET_READER_PRINCIPAL_ID || undefined,
    },
    senderMailbox: v.SENDER_MAILBOX || undefined,
    alertRecipients: v.ALERT_RECIPIENTS,
    dashboardUrl: v.DASHBOARD_URL || undefined,
  };
}

let cached: AppConfig | undefined;

/** The function app's settings, read from the process environment once. */
export function appConfig(): AppConfig {
  cached ??= loadConfig(process.env);
  return cached;
}

/** Lets the local runtime and tests start over with other settings. */
export function resetAppConfig(): void {
  cached = undefined;
}
