/**
 * `npm run adopt-apps`: after `azd down` then `azd up`, hands the environments' app registrations to the new
 * deployment's managed identity.
 *
 * `azd down` deletes the user-assigned identity that created and owned every environment's app; `azd up` makes a
 * new one, which owns none of them. The product acts only on apps its identity owns (src/activities/ownership.ts):
 * a setup or rotation meeting one of those apps refuses it as ForeignApplication, and a setup into a new vault
 * adopts an app only when the identity is its only owner, it carries the product's tag and nobody else can sign
 * in as it. Signed in as an administrator (azd's sign-in, then the Azure CLI's, as grant-graph-permissions),
 * this finds the product's environment apps (uniqueName `fno-graph-mail-{environmentId}` and the tag
 * `fno-graph-mail:environment:{environmentId}`, as registerApplication sets both; an app with only one of them is
 * listed as skipped), makes the identity an owner of each (Graph `POST
 * /applications/{id}/owners/$ref`, https://learn.microsoft.com/graph/api/application-post-owners) and, with
 * `--remove-old-owner`, removes every other owner (`DELETE /applications/{id}/owners/{id}/$ref`,
 * https://learn.microsoft.com/graph/api/application-delete-owners), after adding, so no app is ever left
 * without an owner. `--dry-run` reads and prints the plan and changes nothing.
 *
 * Nothing here touches a credential: F&O keeps the secret it holds, which stays valid until it expires.
 */
import { parseArgs as parseCommandLine } from 'node:util';
import type { TokenCredential } from '@azure/core-auth';
import { AzureCliCredential, AzureDeveloperCliCredential, ChainedTokenCredential } from '@azure/identity';
import type { Client } from '@microsoft/microsoft-graph-client';
import { z } from 'zod';
import { SETTINGS } from '../src/config';
import { ENVIRONMENT_ID_PATTERN } from '../src/contracts/environment';
import { applicationMarkerTag, isProductCredentialName, uniqueNameFor } from '../src/contracts/names';
import { MANAGED_BY_MARKER } from '../src/contracts/wellKnown';
import { createGraphClient } from './grant-graph-permissions';
import { nonEmpty, type Env } from './settingArgs';

export interface AdoptOptions {
  /** Object id of the new managed identity's service principal (MANAGED_IDENTITY_PRINCIPAL_ID). */
  principalId: string;
  tenantId: string | undefined;
  /** Graph root without version. */
  graphBaseUrl: string;
  /** Only these environments' apps; empty: every app of the product. */
  environments: string[];
  /** Also remove every owner but the identity (what adoption into a new vault requires). */
  removeOldOwners: boolean;
  /** Read and print the plan; change nothing. */
  dryRun: boolean;
}

export type ParsedArgs = { kind: 'help' } | { kind: 'run'; options: AdoptOptions } | { kind: 'error'; message: string };

export const USAGE = `Usage: npm run adopt-apps -- [options]

After \`azd down\` then \`azd up\`, the function app has a new managed identity that owns none of the app
registrations the earlier deployment created, and setup refuses them (ForeignApplication). This makes the new
identity an owner of each of the product's environment apps (uniqueName fno-graph-mail-<environment> and
tag fno-graph-mail:environment:<environment>; an app with only one of them is listed, not changed). Defaults
come from the azd environment (names in parentheses).

Options:
  --principal-id <guid>     object id of the new identity's service principal (MANAGED_IDENTITY_PRINCIPAL_ID)
  --tenant-id <guid>        tenant to sign in to (AZURE_TENANT_ID)
  --graph-url <url>         Microsoft Graph endpoint (GRAPH_BASE_URL; default https://graph.microsoft.com)
  --environment <id>        only this environment's app (repeat for several; default: all of them)
  --remove-old-owner        also remove every other owner, after adding the identity: a setup into a new vault
                            adopts an app only when the identity is its only owner
  --dry-run                 read and print what would change; change nothing (it still signs in, to read)
  -h, --help                this text

Signing in: azd auth login (or az login) as an Application Administrator, Cloud Application Administrator or
Global Administrator. F&O is not affected: no credential is added or removed.`;

/** Reads the command line, falling back to the azd environment; never throws. */
export function parseArgs(argv: readonly string[], env: Env): ParsedArgs {
  let values;
  try {
    ({ values } = parseCommandLine({
      args: [...argv],
      allowPositionals: false,
      strict: true,
      options: {
        'principal-id': { type: 'string' },
        'tenant-id': { type: 'string' },
        'graph-url': { type: 'string' },
        environment: { type: 'string', multiple: true },
        'remove-old-owner': { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (e) {
    return { kind: 'error', message: e instanceof Error ? e.message : String(e) };
  }
  if (values.help) return { kind: 'help' };
  const problems: string[] = [];
  // Object and tenant ids are GUIDs: the product's own rule for ENTRA_TENANT_ID.
  const guid = (raw: string | undefined, label: string): string | undefined => {
    if (raw === undefined) return undefined;
    const result = SETTINGS.ENTRA_TENANT_ID.schema.safeParse(raw);
    if (result.success) return result.data;
    problems.push(`${label} must be a GUID (got "${raw}")`);
    return undefined;
  };
  const principalRaw = nonEmpty(values['principal-id']) ?? nonEmpty(env.MANAGED_IDENTITY_PRINCIPAL_ID);
  if (principalRaw === undefined) {
    problems.push('--principal-id is missing: pass the new identity\'s object id, or run this from the provisioned azd environment (MANAGED_IDENTITY_PRINCIPAL_ID)');
  }
  const principalId = guid(principalRaw, '--principal-id');
  const tenantId = guid(nonEmpty(values['tenant-id']) ?? nonEmpty(env.AZURE_TENANT_ID), '--tenant-id');
  const graphRaw = nonEmpty(values['graph-url']) ?? nonEmpty(env.GRAPH_BASE_URL) ?? SETTINGS.GRAPH_BASE_URL.default;
  const graph = SETTINGS.GRAPH_BASE_URL.schema.safeParse(graphRaw);
  if (!graph.success) problems.push(`--graph-url ${graph.error.issues[0]?.message ?? 'is invalid'} (got "${graphRaw}")`);
  const environments = (values.environment ?? []).map((e) => e.trim());
  for (const e of environments) if (!ENVIRONMENT_ID_PATTERN.test(e)) problems.push(`--environment "${e}" is not an environment id`);
  if (problems.length > 0 || principalId === undefined || !graph.success) return { kind: 'error', message: problems.join('; ') };
  return {
    kind: 'run',
    options: { principalId, tenantId, graphBaseUrl: graph.data, environments, removeOldOwners: values['remove-old-owner'], dryRun: values['dry-run'] },
  };
}

// ---- which apps are the product's ---------------------------------------------------------------------------

const UNIQUE_NAME_PREFIX = `${MANAGED_BY_MARKER}-`;
const MARKER_TAG_PREFIX = `${MANAGED_BY_MARKER}:environment:`;

/** The environment a uniqueName or marker tag names, when it is exactly the name the product derives for it. */
function environmentOf(value: string, prefix: string, derive: (id: string) => string): string | undefined {
  if (!value.startsWith(prefix)) return undefined;
  const id = value.slice(prefix.length);
  return ENVIRONMENT_ID_PATTERN.test(id) && derive(id) === value ? id : undefined;
}

const wireApp = z.object({
  id: z.string(),
  appId: z.string(),
  displayName: z.string().nullish(),
  uniqueName: z.string().nullish(),
  tags: z.array(z.string()).nullish(),
  keyCredentials: z.array(z.object({ keyId: z.string() })).nullish(),
  passwordCredentials: z.array(z.object({ keyId: z.string(), displayName: z.string().nullish() })).nullish(),
});
type WireApp = z.infer<typeof wireApp>;

const wireOwner = z.object({
  '@odata.type': z.string().nullish(),
  id: z.string(),
  displayName: z.string().nullish(),
  userPrincipalName: z.string().nullish(),
  servicePrincipalType: z.string().nullish(),
});
const wirePage = z.object({ value: z.array(z.unknown()), '@odata.nextLink': z.string().nullish() });
const wirePrincipal = z.object({ id: z.string(), appId: z.string(), displayName: z.string().nullish() });

export interface Owner {
  id: string;
  /** `user`, or the service principal's type (`ManagedIdentity`, `Application`...). */
  kind: string;
  name: string | null;
}

export interface AppPlan {
  environmentId: string;
  appId: string;
  objectId: string;
  displayName: string | null;
  ownersBefore: Owner[];
  addIdentity: boolean;
  removeOwners: Owner[];
  /** What setup will still say about the app afterwards, or what a person should check first. */
  notes: string[];
}

export interface SkippedApp {
  appId: string;
  objectId: string;
  displayName: string | null;
  reason: string;
}

export interface AdoptionPlan {
  identity: { id: string; appId: string; displayName: string | null };
  apps: AppPlan[];
  skipped: SkippedApp[];
}

function ownerOf(raw: unknown): Owner {
  const o = wireOwner.parse(raw);
  const isUser = (o['@odata.type'] ?? '').toLowerCase().endsWith('.user');
  return { id: o.id, kind: isUser ? 'user' : (o.servicePrincipalType ?? 'servicePrincipal'), name: (isUser ? o.userPrincipalName : o.displayName) ?? o.displayName ?? null };
}

async function allPages(client: Client, first: string, select: string[]): Promise<unknown[]> {
  const items: unknown[] = [];
  let page = wirePage.parse(await client.api(first).select(select).top(999).get());
  for (;;) {
    items.push(...page.value);
    const next = page['@odata.nextLink'];
    if (!next) return items;
    page = wirePage.parse(await client.api(next).get());
  }
}

/** What the app looks like to setup once the plan has run: the problems it would still raise, in its words. */
function notesFor(app: WireApp, ownersAfter: Owner[], options: AdoptOptions): string[] {
  const notes: string[] = [];
  const people = ownersAfter.filter((o) => o.kind === 'user');
  if (people.length > 0) {
    notes.push(
      `owned by ${people.map((o) => o.name ?? o.id).join(', ')}: a person, not an earlier identity of this product; check that it is an earlier ` +
        'registration of this product (anyone may register an app under its name) before a setup adopts it',
    );
  }
  const others = ownersAfter.filter((o) => o.id.toLowerCase() !== options.principalId);
  if (others.length > 0) {
    notes.push(
      `other owners remain (${others.map((o) => o.name ?? o.id).join(', ')}): fine while a recovered vault records the app; a setup into a new vault ` +
        'adopts it only once the identity is its only owner (--remove-old-owner)',
    );
  }
  const certificates = (app.keyCredentials ?? []).map((k) => k.keyId);
  if (certificates.length > 0) notes.push(`it holds certificates (${certificates.join(', ')}): a setup into a new vault refuses it until they are removed`);
  const foreign = (app.passwordCredentials ?? []).filter((c) => !isProductCredentialName(c.displayName)).map((c) => c.keyId);
  if (foreign.length > 0) {
    notes.push(`it holds client secrets the product did not create (${foreign.join(', ')}): a setup into a new vault refuses it until they are removed`);
  }
  return notes;
}

/** A failure the person running the script can act on; its message says what to do. */
export class AdoptError extends Error {
  override name = 'AdoptError';
}

function graphStatus(e: unknown): number | undefined {
  const status = (e as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/**
 * The name of the error behind a failure. The Graph client turns a credential's failure into a GraphError with
 * status -1 that keeps the original error's name as its `code`.
 */
function errorName(e: unknown): string {
  if (!(e instanceof Error)) return '';
  const { statusCode, code } = e as { statusCode?: unknown; code?: unknown };
  return statusCode === -1 && typeof code === 'string' ? code : e.name;
}

function explain(e: unknown, doing: string, options: AdoptOptions, appId?: string): AdoptError {
  const status = graphStatus(e);
  const { code, requestId } = (e ?? {}) as { code?: unknown; requestId?: unknown };
  const message = e instanceof Error ? e.message : String(e);
  if (status !== undefined && status > 0) {
    const reference = `(Graph ${status}${typeof code === 'string' ? ` ${code}` : ''}${typeof requestId === 'string' ? `, request id ${requestId}` : ''}: ${message})`;
    if (status === 401 || status === 403) {
      const byHand = appId ? ` By hand: az ad app owner add --id ${appId} --owner-object-id ${options.principalId}.` : '';
      return new AdoptError(
        `${doing} was refused ${reference}. Changing an app's owners takes Application.ReadWrite.All and Directory.Read.All, held by an ` +
          `Application Administrator, Cloud Application Administrator or Global Administrator (https://learn.microsoft.com/graph/api/application-post-owners).${byHand}`,
      );
    }
    return new AdoptError(`${doing} failed ${reference}. Run the command again: it changes only what is not done yet.`);
  }
  const name = errorName(e);
  if (name === 'CredentialUnavailableError' || name === 'AuthenticationRequiredError' || name === 'AggregateAuthenticationError') {
    return new AdoptError(
      `${doing}: nobody is signed in (${message}). Run \`azd auth login${options.tenantId ? ` --tenant-id ${options.tenantId}` : ''}\` (or \`az login\`) ` +
        'as an Application Administrator, then `npm run adopt-apps` again.',
    );
  }
  return new AdoptError(`${doing} failed: ${message}`);
}

/** Reads the identity, the product's apps and their owners; changes nothing. */
export async function planAdoption(client: Client, options: AdoptOptions): Promise<AdoptionPlan> {
  let identity: z.infer<typeof wirePrincipal>;
  try {
    identity = wirePrincipal.parse(await client.api(`/servicePrincipals/${encodeURIComponent(options.principalId)}`).select(['id', 'appId', 'displayName']).get());
  } catch (e) {
    if (graphStatus(e) === 404) {
      throw new AdoptError(
        `No service principal with object id ${options.principalId} exists in ${options.tenantId ? `tenant ${options.tenantId}` : 'the signed-in tenant'}: ` +
          'pass the identity of the current deployment (azd env get-value MANAGED_IDENTITY_PRINCIPAL_ID); one created moments ago can take a few minutes to appear.',
      );
    }
    throw explain(e, 'Reading the managed identity', options);
  }
  let apps: WireApp[];
  try {
    // Every application of the tenant, filtered here: Graph documents no filter on a tag prefix.
    apps = (await allPages(client, '/applications', ['id', 'appId', 'displayName', 'uniqueName', 'tags', 'keyCredentials', 'passwordCredentials'])).map((a) => wireApp.parse(a));
  } catch (e) {
    throw explain(e, 'Listing the app registrations', options);
  }
  const plan: AdoptionPlan = { identity: { id: identity.id, appId: identity.appId, displayName: identity.displayName ?? null }, apps: [], skipped: [] };
  const wanted = new Set(options.environments);
  for (const app of apps) {
    const byName = app.uniqueName ? environmentOf(app.uniqueName, UNIQUE_NAME_PREFIX, uniqueNameFor) : undefined;
    const byTag = [...new Set((app.tags ?? []).map((t) => environmentOf(t, MARKER_TAG_PREFIX, applicationMarkerTag)).filter((id): id is string => id !== undefined))];
    if (byName === undefined && byTag.length === 0) continue;
    if (wanted.size > 0 && !(byName !== undefined ? wanted.has(byName) : byTag.some((id) => wanted.has(id)))) continue;
    const skip = (reason: string): void => void plan.skipped.push({ appId: app.appId, objectId: app.id, displayName: app.displayName ?? null, reason });
    if (byName === undefined) {
      skip(`tagged for ${byTag.join(', ')} but its uniqueName is ${app.uniqueName ?? 'not set'}, not ${uniqueNameFor(byTag[0] ?? '')}: setup refuses it whoever owns it`);
      continue;
    }
    const otherTags = byTag.filter((id) => id !== byName);
    if (otherTags.length > 0) {
      skip(`its uniqueName names ${byName} but its tags name ${otherTags.join(', ')}: setup refuses it whoever owns it`);
      continue;
    }
    if (!byTag.includes(byName)) {
      // Every environment app the product registers carries the tag (registerApplication). Without it, this is an
      // app of another kind under the product's prefix (an operator app, say), or someone else's: not adopted here.
      skip(`named ${app.uniqueName ?? ''} but without the tag ${applicationMarkerTag(byName)} every environment app of the product carries: not adopted (add an owner by hand if it is yours)`);
      continue;
    }
    let ownersBefore: Owner[];
    try {
      ownersBefore = (await allPages(client, `/applications/${encodeURIComponent(app.id)}/owners`, ['id', 'displayName', 'userPrincipalName', 'servicePrincipalType'])).map(ownerOf);
    } catch (e) {
      throw explain(e, `Reading the owners of ${app.appId}`, options, app.appId);
    }
    const isIdentity = (o: Owner): boolean => o.id.toLowerCase() === identity.id.toLowerCase();
    const removeOwners = options.removeOldOwners ? ownersBefore.filter((o) => !isIdentity(o)) : [];
    const ownersAfter = [...ownersBefore.filter((o) => !removeOwners.includes(o)), ...(ownersBefore.some(isIdentity) ? [] : [{ id: identity.id, kind: 'ManagedIdentity', name: identity.displayName ?? null }])];
    plan.apps.push({
      environmentId: byName,
      appId: app.appId,
      objectId: app.id,
      displayName: app.displayName ?? null,
      ownersBefore,
      addIdentity: !ownersBefore.some(isIdentity),
      removeOwners,
      notes: notesFor(app, ownersAfter, options),
    });
  }
  plan.apps.sort((a, b) => a.environmentId.localeCompare(b.environmentId));
  return plan;
}

/** Carries out one app's plan: the identity first, then the removals, so the app never has no owner. */
export async function adoptApp(client: Client, app: AppPlan, options: AdoptOptions): Promise<void> {
  if (app.addIdentity) {
    try {
      await client
        .api(`/applications/${encodeURIComponent(app.objectId)}/owners/$ref`)
        .post({ '@odata.id': `${options.graphBaseUrl}/v1.0/directoryObjects/${options.principalId}` });
    } catch (e) {
      // Added meanwhile (a second run at once): Graph answers a reference that exists with a 400.
      const already = graphStatus(e) === 400 && /already exist/i.test(e instanceof Error ? e.message : '');
      if (!already) throw explain(e, `Adding the identity as owner of ${app.appId} (${app.environmentId})`, options, app.appId);
    }
  }
  for (const owner of app.removeOwners) {
    try {
      await client.api(`/applications/${encodeURIComponent(app.objectId)}/owners/${encodeURIComponent(owner.id)}/$ref`).delete();
    } catch (e) {
      if (graphStatus(e) !== 404) throw explain(e, `Removing owner ${owner.name ?? owner.id} from ${app.appId} (${app.environmentId})`, options);
    }
  }
}

// ---- what a person reads ------------------------------------------------------------------------------------

function describeOwner(o: Owner): string {
  return `${o.name ?? '(no name)'} (${o.kind}, object ${o.id})`;
}

function headerLines(app: AppPlan): string[] {
  return [
    `  ${app.environmentId}: app ${app.appId} (object ${app.objectId}${app.displayName ? `, ${app.displayName}` : ''})`,
    `    owners before: ${app.ownersBefore.length > 0 ? app.ownersBefore.map(describeOwner).join('; ') : 'none (the earlier identity was deleted with its deployment)'}`,
  ];
}

function appLines(app: AppPlan, dryRun: boolean): string[] {
  const lines = headerLines(app);
  if (app.addIdentity) lines.push(`    ${dryRun ? 'would add' : 'added'} the identity as owner`);
  else lines.push('    the identity already owns it');
  for (const o of app.removeOwners) lines.push(`    ${dryRun ? 'would remove' : 'removed'} owner ${describeOwner(o)}`);
  for (const note of app.notes) lines.push(`    note: ${note}`);
  return lines;
}

export interface MainDeps {
  /** Default: azd's sign-in, then the Azure CLI's. */
  credential?: TokenCredential;
  out?: (line: string) => void;
  err?: (line: string) => void;
}

/** Runs the command; resolves to the process exit code (0 done, 1 failed, 2 bad arguments). */
export async function main(argv: readonly string[], env: Env, deps: MainDeps = {}): Promise<number> {
  const out = deps.out ?? ((line: string) => console.log(line));
  const err = deps.err ?? ((line: string) => console.error(line));
  const parsed = parseArgs(argv, env);
  if (parsed.kind === 'help') {
    out(USAGE);
    return 0;
  }
  if (parsed.kind === 'error') {
    err(`adopt-apps: ${parsed.message}`);
    err('');
    err(USAGE);
    return 2;
  }
  const { options } = parsed;
  const credential =
    deps.credential ??
    new ChainedTokenCredential(
      new AzureDeveloperCliCredential(options.tenantId ? { tenantId: options.tenantId } : {}),
      new AzureCliCredential(options.tenantId ? { tenantId: options.tenantId } : {}),
    );
  const client = createGraphClient(credential, options.graphBaseUrl);
  let plan: AdoptionPlan;
  try {
    plan = await planAdoption(client, options);
  } catch (e) {
    err(`  NOT DONE: ${(e instanceof AdoptError ? e : explain(e, 'Reading the app registrations', options)).message}`);
    return 1;
  }
  const who = `${plan.identity.displayName ?? 'the managed identity'} (object id ${plan.identity.id}, client id ${plan.identity.appId})`;
  out(`App registrations of fno-graph-mail${options.environments.length > 0 ? ` for ${options.environments.join(', ')}` : ''}, for ${who}${options.dryRun ? ' (dry run: nothing is changed)' : ''}:`);
  if (plan.apps.length === 0) out('  none found');
  for (const app of plan.apps) {
    if (!options.dryRun) {
      try {
        await adoptApp(client, app, options);
      } catch (e) {
        for (const line of headerLines(app)) out(line);
        err(`  NOT DONE: ${(e instanceof AdoptError ? e : explain(e, `Changing the owners of ${app.appId}`, options, app.appId)).message}`);
        return 1;
      }
    }
    for (const line of appLines(app, options.dryRun)) out(line);
  }
  for (const s of plan.skipped) out(`  skipped app ${s.appId} (object ${s.objectId}${s.displayName ? `, ${s.displayName}` : ''}): ${s.reason}`);
  const added = plan.apps.filter((a) => a.addIdentity).length;
  const removed = plan.apps.reduce((n, a) => n + a.removeOwners.length, 0);
  out('');
  out(
    `${plan.apps.length} app registration${plan.apps.length === 1 ? '' : 's'}: ${options.dryRun ? 'the identity would be added to' : 'identity added to'} ${added}, ` +
      `${removed} other owner${removed === 1 ? '' : 's'} ${options.dryRun ? 'would be ' : ''}removed, ${plan.apps.length - added} already owned; ${plan.skipped.length} skipped.`,
  );
  out('F&O is not affected: no credential was added or removed, and the secret each environment holds stays valid until it expires.');
  out(
    'Next: with the old vault recovered (KEY_VAULT_NAME), its records name these apps and rotations carry on. With a new vault, a setup per ' +
      'environment (POST /api/environments/{environmentId}/setup) adopts an app whose only owner is the identity, that carries its tag and that nobody ' +
      'else can sign in as; it first removes the secrets no vault records (the one F&O holds among them), so F&O cannot send mail from then until ' +
      'it receives the new secret.',
  );
  return 0;
}

if (require.main === module) {
  void main(process.argv.slice(2), process.env).then((code) => {
    process.exitCode = code;
  });
}
