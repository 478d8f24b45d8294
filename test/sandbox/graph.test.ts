/**
 * The emulated Microsoft Graph, called handler-first with signed tokens: upserts, secrets and their
 * policy cap, replication lag, consent objects, sendMail and the permission table, with the status
 * codes and error bodies real Graph gives. Then the same service over HTTPS through the unmodified
 * Graph JS client and @azure/identity credentials: raw upsert statuses, GraphError fields, the
 * client's retry on a throttling fault, and a secret minted here sending mail.
 */
import { ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import { Client, GraphError, ResponseType } from '@microsoft/microsoft-graph-client';
import { TokenCredentialAuthenticationProvider } from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials';
import { createServiceDeps } from '../../sandbox/deps';
import { createGraphService, GRAPH_PERMISSIONS, reachOf, type GraphOperation } from '../../sandbox/graph';
import { seedState, SENDER_MAILBOX, ADMIN_MAILBOX } from '../../sandbox/seed';
import { GRAPH_APP_ID, MAIL_SEND_ROLE_ID, SandboxState, USER_READ_SCOPE_ID } from '../../sandbox/state';
import { TokenAuthority } from '../../sandbox/tokens';
import type { SandboxRequest, SandboxResponse, ServiceHandler, TokenClaims } from '../../sandbox/types';
import { startTestSandbox, type TestSandbox } from '../helpers/sandbox';

const ORIGIN = 'https://localhost:8443';
const GRAPH = 'https://graph.microsoft.com';
const DAY_MS = 86_400_000;

interface Caller {
  appId: string;
  servicePrincipalId: string;
  roles: string[];
}

interface World {
  state: SandboxState;
  authority: TokenAuthority;
  graph: ServiceHandler;
}

function world(options: { replicationLagSeconds?: number } = {}): World {
  const state = new SandboxState({ replicationLagSeconds: options.replicationLagSeconds ?? 0 });
  seedState(state);
  const authority = new TokenAuthority();
  return { state, authority, graph: createGraphService(createServiceDeps(state, authority)) };
}

function managedIdentity(w: World): Caller {
  const mi = w.state.managedIdentity;
  return { appId: mi.appId, servicePrincipalId: mi.servicePrincipalId, roles: w.state.graphRolesOf(mi.servicePrincipalId) };
}

function operator(w: World): Caller {
  const op = w.state.operator;
  return { appId: op.appId, servicePrincipalId: op.servicePrincipalId, roles: w.state.graphRolesOf(op.servicePrincipalId) };
}

function withRoles(w: World, roles: string[]): Caller {
  return { ...managedIdentity(w), roles };
}

function tokenFor(w: World, caller: Caller, audience = GRAPH): string {
  return w.authority.issue({
    audience,
    issuer: `https://localhost:8441/${w.state.tenantId}/v2.0`,
    tenantId: w.state.tenantId,
    appId: caller.appId,
    servicePrincipalId: caller.servicePrincipalId,
    roles: caller.roles,
    now: w.state.now(),
    lifetimeSeconds: 3600,
  }).token;
}

interface CallOptions {
  body?: unknown;
  headers?: Record<string, string>;
  token?: string | null;
}

async function call(w: World, caller: Caller | null, method: string, pathAndQuery: string, options: CallOptions = {}): Promise<SandboxResponse> {
  const [path, query] = pathAndQuery.split('?') as [string, string | undefined];
  const token = options.token !== undefined ? options.token : caller ? tokenFor(w, caller) : null;
  const req: SandboxRequest = {
    service: 'graph',
    method,
    path,
    rawPath: encodeURI(path),
    query: new URLSearchParams(query ?? ''),
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      'content-type': 'application/json',
      ...(options.headers ?? {}),
    },
    body: options.body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(options.body)),
    origin: ORIGIN,
  };
  return w.graph(req);
}

type Json = Record<string, unknown>;

function body(res: SandboxResponse): Json {
  return res.body as Json;
}

function errorOf(res: SandboxResponse): { code: string; message: string; innerError: Json; details?: Json[] } {
  return (res.body as { error: { code: string; message: string; innerError: Json; details?: Json[] } }).error;
}

const UPSERT = { Prefer: 'create-if-missing' };

async function upsertApp(w: World, caller: Caller, uniqueName: string, displayName = uniqueName): Promise<Json> {
  const res = await call(w, caller, 'PATCH', `/v1.0/applications(uniqueName='${uniqueName}')`, {
    body: { displayName, signInAudience: 'AzureADMyOrg' },
    headers: UPSERT,
  });
  expect(res.status).toBe(201);
  return body(res);
}

async function createServicePrincipal(w: World, caller: Caller, appId: string): Promise<Json> {
  const res = await call(w, caller, 'POST', '/v1.0/servicePrincipals', { body: { appId } });
  expect(res.status).toBe(201);
  return body(res);
}

describe('Graph authentication', () => {
  it('answers a request without a token with 401 InvalidAuthenticationToken and Graph request ids', async () => {
    const w = world();
    const res = await call(w, null, 'GET', '/v1.0/applications', { headers: { 'client-request-id': 'abc-123' } });
    expect(res.status).toBe(401);
    const error = errorOf(res);
    expect(error.code).toBe('InvalidAuthenticationToken');
    expect(error.innerError['client-request-id']).toBe('abc-123');
    expect(error.innerError['request-id']).toBe(res.headers?.['request-id']);
    expect(res.headers?.['WWW-Authenticate']).toContain('Bearer');
  });

  it('refuses a token issued for another resource and accepts Graph by app id', async () => {
    const w = world();
    const mi = managedIdentity(w);
    const vault = await call(w, mi, 'GET', '/v1.0/servicePrincipals', { token: tokenFor(w, mi, 'https://vault.azure.net') });
    expect(vault.status).toBe(401);
    const byAppId = await call(w, mi, 'GET', '/v1.0/servicePrincipals', { token: tokenFor(w, mi, GRAPH_APP_ID) });
    expect(byAppId.status).toBe(200);
  });

  it('rejects a path without a version Graph serves (v1.0 or beta)', async () => {
    const w = world();
    const res = await call(w, managedIdentity(w), 'GET', '/v2.0/applications');
    expect(res.status).toBe(400);
    expect(errorOf(res).code).toBe('BadRequest');
    // beta is a version Graph serves.
    expect((await call(w, managedIdentity(w), 'GET', '/beta/applications')).status).toBe(200);
  });
});

describe('applications', () => {
  it('upserts by uniqueName: 201 with the full application, then 204, and the caller owns it', async () => {
    const w = world();
    const mi = managedIdentity(w);
    const created = await upsertApp(w, mi, 'fno-mail-contoso-uat', 'F&O mail (contoso-uat)');
    expect(created['@odata.context']).toBe(`${ORIGIN}/v1.0/$metadata#applications/$entity`);
    expect(created).toMatchObject({
      uniqueName: 'fno-mail-contoso-uat',
      displayName: 'F&O mail (contoso-uat)',
      signInAudience: 'AzureADMyOrg',
      passwordCredentials: [],
      keyCredentials: [],
      publisherDomain: 'contoso.onmicrosoft.com',
    });
    expect(typeof created.id).toBe('string');
    expect(created.appId).not.toBe(created.id);
    expect(w.state.findApplicationById(created.id as string)?.owners).toEqual([mi.servicePrincipalId]);

    const requiredResourceAccess = [
      { resourceAppId: GRAPH_APP_ID, resourceAccess: [{ id: MAIL_SEND_ROLE_ID, type: 'Role' }, { id: USER_READ_SCOPE_ID, type: 'Scope' }] },
    ];
    const again = await call(w, mi, 'PATCH', "/v1.0/applications(uniqueName='fno-mail-contoso-uat')", {
      body: { displayName: 'renamed', requiredResourceAccess, notes: 'managed' },
      headers: UPSERT,
    });
    expect(again.status).toBe(204);
    expect(again.body).toBeUndefined();
    expect(w.state.applications.filter((a) => a.uniqueName === 'fno-mail-contoso-uat')).toHaveLength(1);

    const read = await call(w, mi, 'GET', "/v1.0/applications(uniqueName='fno-mail-contoso-uat')");
    expect(read.status).toBe(200);
    expect(body(read)).toMatchObject({ id: created.id, displayName: 'renamed', notes: 'managed', requiredResourceAccess });
  });

  it('answers 404 for a missing uniqueName without create-if-missing, on PATCH and GET', async () => {
    const w = world();
    const mi = managedIdentity(w);
    const patch = await call(w, mi, 'PATCH', "/v1.0/applications(uniqueName='nope')", { body: { displayName: 'x' } });
    expect(patch.status).toBe(404);
    expect(errorOf(patch).code).toBe('Request_ResourceNotFound');
    const get = await call(w, mi, 'GET', "/v1.0/applications(uniqueName='nope')");
    expect(get.status).toBe(404);
    expect(w.state.applications.some((a) => a.uniqueName === 'nope')).toBe(false);
  });

  it('rejects a create without displayName, a body with passwordCredentials, and unknown properties', async () => {
    const w = world();
    const mi = managedIdentity(w);
    const noName = await call(w, mi, 'PATCH', "/v1.0/applications(uniqueName='a1')", { body: { signInAudience: 'AzureADMyOrg' }, headers: UPSERT });
    expect(noName.status).toBe(400);
    expect(errorOf(noName).message).toContain('displayName');
    const withSecret = await call(w, mi, 'PATCH', "/v1.0/applications(uniqueName='a1')", {
      body: { displayName: 'a1', passwordCredentials: [{ displayName: 'x' }] },
      headers: UPSERT,
    });
    expect(withSecret.status).toBe(400);
    expect(errorOf(withSecret).message).toContain('passwordCredentials');
    const unknown = await call(w, mi, 'POST', '/v1.0/applications', { body: { displayName: 'a2', colour: 'blue' } });
    expect(unknown.status).toBe(400);
    expect(errorOf(unknown).message).toContain('colour');
    expect(w.state.applications.filter((a) => a.uniqueName === 'a1' || a.displayName === 'a2')).toHaveLength(0);
  });

  it('lets an OwnedBy caller read every application but change only the ones it owns', async () => {
    const w = world();
    const mi = managedIdentity(w);
    const mine = await upsertApp(w, mi, 'mine');
    const operatorApp = w.state.findApplicationByAppId(w.state.operator.appId);
    expect(operatorApp).toBeDefined();

    // Application.ReadWrite.OwnedBy is among the permissions of List and Get applications.
    const list = await call(w, mi, 'GET', '/v1.0/applications');
    expect(list.status).toBe(200);
    expect((body(list).value as Json[]).map((a) => a.id).sort()).toEqual([mine.id, operatorApp?.id].sort());

    const readOther = await call(w, mi, 'GET', `/v1.0/applications/${operatorApp?.id ?? ''}`);
    expect(readOther.status).toBe(200);
    expect(body(readOther).uniqueName).toBe('fno-graph-mail-operator');

    const rename = await call(w, mi, 'PATCH', `/v1.0/applications/${operatorApp?.id ?? ''}`, { body: { displayName: 'hijacked' } });
    expect(rename.status).toBe(403);
    expect(errorOf(rename)).toMatchObject({ code: 'Authorization_RequestDenied', message: 'Insufficient privileges to complete the operation.' });

    const takeOver = await call(w, mi, 'PATCH', "/v1.0/applications(uniqueName='fno-graph-mail-operator')", {
      body: { displayName: 'hijacked' },
      headers: UPSERT,
    });
    expect(takeOver.status).toBe(403);
    expect(operatorApp?.displayName).toBe('fno-graph-mail operator');
    const addSecret = await call(w, mi, 'POST', `/v1.0/applications/${operatorApp?.id ?? ''}/addPassword`, { body: {} });
    expect(addSecret.status).toBe(403);
  });

  it('lets a reader with Application.Read.All list everything but change nothing', async () => {
    const w = world();
    const mine = await upsertApp(w, managedIdentity(w), 'mine');
    const op = operator(w);
    const list = await call(w, op, 'GET', '/v1.0/applications');
    expect((body(list).value as Json[]).length).toBe(2);
    const patch = await call(w, op, 'PATCH', `/v1.0/applications/${mine.id as string}`, { body: { displayName: 'x' } });
    expect(patch.status).toBe(403);
    const create = await call(w, op, 'POST', '/v1.0/applications', { body: { displayName: 'x' } });
    expect(create.status).toBe(403);
  });

  it('filters by appId and uniqueName, pages with $top and nextLink, and honours $select', async () => {
    const w = world();
    const mi = managedIdentity(w);
    const apps: Json[] = [];
    for (const n of ['a', 'b', 'c']) apps.push(await upsertApp(w, mi, `app-${n}`));
    const third = apps[2] as Json;

    const byAppId = await call(w, mi, 'GET', `/v1.0/applications?$filter=appId eq '${third.appId as string}'`);
    expect((body(byAppId).value as Json[]).map((a) => a.uniqueName)).toEqual(['app-c']);
    const byName = await call(w, mi, 'GET', "/v1.0/applications?$filter=uniqueName eq 'app-b'");
    expect((body(byName).value as Json[]).map((a) => a.uniqueName)).toEqual(['app-b']);

    // Four applications: the seeded operator's and the three above.
    const page1 = await call(w, mi, 'GET', '/v1.0/applications?$top=3&$select=id,uniqueName');
    const p1 = body(page1);
    expect((p1.value as Json[]).map((a) => Object.keys(a).sort())).toEqual([['id', 'uniqueName'], ['id', 'uniqueName'], ['id', 'uniqueName']]);
    const next = new URL(p1['@odata.nextLink'] as string);
    expect(next.origin).toBe(ORIGIN);
    const page2 = await call(w, mi, 'GET', `${decodeURIComponent(next.pathname)}?${next.searchParams.toString()}`);
    const p2 = body(page2);
    expect((p2.value as Json[]).map((a) => a.uniqueName)).toEqual(['app-c']);
    expect(p2['@odata.nextLink']).toBeUndefined();

    const bad = await call(w, mi, 'GET', "/v1.0/applications?$filter=startswith(displayName,'a')");
    expect(bad.status).toBe(400);
    expect(errorOf(bad).code).toBe('Request_UnsupportedQuery');
  });

  it('reads by appId and deletes an application together with its service principal and consents', async () => {
    const w = world();
    const mi = managedIdentity(w);
    const app = await upsertApp(w, mi, 'doomed');
    const sp = await createServicePrincipal(w, mi, app.appId as string);
    const assign = await call(w, mi, 'POST', `/v1.0/servicePrincipals/${w.state.graphServicePrincipalId}/appRoleAssignedTo`, {
      body: { principalId: sp.id, resourceId: w.state.graphServicePrincipalId, appRoleId: MAIL_SEND_ROLE_ID },
    });
    expect(assign.status).toBe(201);
    const byAppId = await call(w, mi, 'GET', `/v1.0/applications(appId='${app.appId as string}')`);
    expect(body(byAppId).id).toBe(app.id);

    const del = await call(w, mi, 'DELETE', `/v1.0/applications/${app.id as string}`);
    expect(del.status).toBe(204);
    expect(w.state.findApplicationById(app.id as string)).toBeUndefined();
    expect(w.state.findServicePrincipalById(sp.id as string)).toBeUndefined();
    expect(w.state.appRoleAssignments.some((a) => a.principalId === sp.id)).toBe(false);
    const gone = await call(w, mi, 'GET', `/v1.0/applications/${app.id as string}`);
    expect(gone.status).toBe(404);
  });
});

describe('client secrets', () => {
  it('adds a password valid for two years by default and never shows its text again', async () => {
    const w = world();
    const mi = managedIdentity(w);
    const app = await upsertApp(w, mi, 'secretive');
    const before = w.state.now();
    const res = await call(w, mi, 'POST', `/v1.0/applications/${app.id as string}/addPassword`, {
      body: { passwordCredential: { displayName: 'rotation 1' } },
    });
    expect(res.status).toBe(200);
    const cred = body(res);
    const secretText = cred.secretText as string;
    expect(secretText).toHaveLength(40);
    expect(cred.hint).toBe(secretText.slice(0, 3));
    expect(cred.displayName).toBe('rotation 1');
    const start = Date.parse(cred.startDateTime as string);
    const end = new Date(start);
    end.setUTCFullYear(end.getUTCFullYear() + 2);
    expect(start).toBeGreaterThanOrEqual(before);
    expect(Date.parse(cred.endDateTime as string)).toBe(end.getTime());
    const record = w.state.findApplicationById(app.id as string)?.passwordCredentials[0];
    expect(record?.usableFrom).toBeGreaterThanOrEqual(before + w.state.secretPropagationSeconds * 1000);

    const read = await call(w, mi, 'GET', `/v1.0/applications/${app.id as string}`);
    expect(JSON.stringify(read.body)).not.toContain(secretText);
    expect((body(read).passwordCredentials as Json[])[0]).toMatchObject({ keyId: cred.keyId, secretText: null, hint: cred.hint });
  });

  it('dates a new password on the virtual clock', async () => {
    const w = world();
    const mi = managedIdentity(w);
    const app = await upsertApp(w, mi, 'clocked');
    w.state.advanceClock(400 * DAY_MS);
    const res = await call(w, mi, 'POST', `/v1.0/applications/${app.id as string}/addPassword`, { body: {} });
    expect(res.status).toBe(200);
    expect(Math.abs(Date.parse(body(res).startDateTime as string) - w.state.now())).toBeLessThan(5000);
  });

  it('refuses a lifetime beyond the tenant policy cap with CredentialInvalidLifetimeAsPerAppPolicy', async () => {
    const w = world();
    w.state.passwordLifetimeMaxDays = 180;
    const mi = managedIdentity(w);
    const app = await upsertApp(w, mi, 'capped');
    const tooLong = await call(w, mi, 'POST', `/v1.0/applications/${app.id as string}/addPassword`, { body: { passwordCredential: {} } });
    expect(tooLong.status).toBe(400);
    const error = errorOf(tooLong);
    expect(error.code).toBe('CredentialInvalidLifetimeAsPerAppPolicy');
    expect(error.message).toMatch(/^Credential lifetime exceeds the max value allowed as per assigned policy '[0-9a-f-]+'\.$/);
    expect(error.details?.[0]).toMatchObject({ code: 'InvalidKeyEndDate', target: 'EndDate' });
    expect(w.state.findApplicationById(app.id as string)?.passwordCredentials).toHaveLength(0);

    const endDateTime = new Date(w.state.now() + 179 * DAY_MS).toISOString();
    const within = await call(w, mi, 'POST', `/v1.0/applications/${app.id as string}/addPassword`, {
      body: { passwordCredential: { displayName: 'short', endDateTime } },
    });
    expect(within.status).toBe(200);
    expect(body(within).endDateTime).toBe(endDateTime);
  });

  it('removes a password by keyId and answers an unknown keyId with 400', async () => {
    const w = world();
    const mi = managedIdentity(w);
    const app = await upsertApp(w, mi, 'rotating');
    const added = body(await call(w, mi, 'POST', `/v1.0/applications/${app.id as string}/addPassword`, { body: {} }));
    const removed = await call(w, mi, 'POST', `/v1.0/applications/${app.id as string}/removePassword`, { body: { keyId: added.keyId } });
    expect(removed.status).toBe(204);
    expect(w.state.findApplicationById(app.id as string)?.passwordCredentials).toHaveLength(0);
    const again = await call(w, mi, 'POST', `/v1.0/applications/${app.id as string}/removePassword`, { body: { keyId: added.keyId } });
    expect(again.status).toBe(400);
    expect(errorOf(again).message).toBe(`No password credential found with keyId ${added.keyId as string}.`);
  });
});

describe('replication lag', () => {
  it('hides a fresh application from reads by id, secrets and service principal creation until it replicates', async () => {
    const w = world({ replicationLagSeconds: 30 });
    const mi = managedIdentity(w);
    const app = await upsertApp(w, mi, 'fresh');
    const get = await call(w, mi, 'GET', `/v1.0/applications/${app.id as string}`);
    expect(get.status).toBe(404);
    expect(errorOf(get)).toMatchObject({
      code: 'Request_ResourceNotFound',
      message: `Resource '${app.id as string}' does not exist or one of its queried reference-property objects are not present.`,
    });
    const secret = await call(w, mi, 'POST', `/v1.0/applications/${app.id as string}/addPassword`, { body: {} });
    expect(secret.status).toBe(404);
    const sp = await call(w, mi, 'POST', '/v1.0/servicePrincipals', { body: { appId: app.appId } });
    expect(sp.status).toBe(400);
    expect(errorOf(sp)).toMatchObject({
      code: 'Request_BadRequest',
      message: `The appId '${app.appId as string}' of the service principal does not reference a valid application object.`,
    });
    // The upsert itself stays idempotent during the lag: it must not create a twin.
    const upsertAgain = await call(w, mi, 'PATCH', "/v1.0/applications(uniqueName='fresh')", { body: { displayName: 'fresh' }, headers: UPSERT });
    expect(upsertAgain.status).toBe(204);

    w.state.advanceClock(31_000);
    expect((await call(w, mi, 'GET', `/v1.0/applications/${app.id as string}`)).status).toBe(200);
    expect((await call(w, mi, 'POST', '/v1.0/servicePrincipals', { body: { appId: app.appId } })).status).toBe(201);
  });

  it('refuses an app role assignment for a fresh service principal with "Not a valid reference update."', async () => {
    const w = world({ replicationLagSeconds: 10 });
    const mi = managedIdentity(w);
    const app = await upsertApp(w, mi, 'fresh-sp');
    w.state.advanceClock(11_000);
    const sp = await createServicePrincipal(w, mi, app.appId as string);
    const assignment = { principalId: sp.id, resourceId: w.state.graphServicePrincipalId, appRoleId: MAIL_SEND_ROLE_ID };
    const early = await call(w, mi, 'POST', `/v1.0/servicePrincipals/${w.state.graphServicePrincipalId}/appRoleAssignedTo`, { body: assignment });
    expect(early.status).toBe(400);
    expect(errorOf(early)).toMatchObject({ code: 'Request_BadRequest', message: 'Not a valid reference update.' });
    const byId = await call(w, mi, 'GET', `/v1.0/servicePrincipals/${sp.id as string}`);
    expect(byId.status).toBe(404);
    w.state.advanceClock(11_000);
    const later = await call(w, mi, 'POST', `/v1.0/servicePrincipals/${w.state.graphServicePrincipalId}/appRoleAssignedTo`, { body: assignment });
    expect(later.status).toBe(201);
  });
});

describe('service principals', () => {
  it('creates one per application, refuses a duplicate with 409, and finds it by appId', async () => {
    const w = world();
    const mi = managedIdentity(w);
    const app = await upsertApp(w, mi, 'with-sp', 'With SP');
    const sp = await createServicePrincipal(w, mi, app.appId as string);
    expect(sp).toMatchObject({ appId: app.appId, appDisplayName: 'With SP', displayName: 'With SP', servicePrincipalType: 'Application', appRoles: [] });
    expect(w.state.findServicePrincipalById(sp.id as string)?.owners).toEqual([mi.servicePrincipalId]);

    const dup = await call(w, mi, 'POST', '/v1.0/servicePrincipals', { body: { appId: app.appId } });
    expect(dup.status).toBe(409);
    expect(errorOf(dup).code).toBe('Request_MultipleObjectsWithSameKeyValue');
    expect(errorOf(dup).message).toContain(app.appId as string);

    const byAppId = await call(w, mi, 'GET', `/v1.0/servicePrincipals(appId='${app.appId as string}')`);
    expect(body(byAppId).id).toBe(sp.id);
    const graphSp = await call(w, mi, 'GET', `/v1.0/servicePrincipals(appId='${GRAPH_APP_ID}')`);
    expect(body(graphSp).id).toBe(w.state.graphServicePrincipalId);
    expect((body(graphSp).appRoles as Json[]).some((r) => r.value === 'Mail.Send' && r.id === MAIL_SEND_ROLE_ID)).toBe(true);
    const filtered = await call(w, mi, 'GET', `/v1.0/servicePrincipals?$filter=appId eq '${app.appId as string}'`);
    expect((body(filtered).value as Json[]).map((s) => s.id)).toEqual([sp.id]);
    const missing = await call(w, mi, 'GET', "/v1.0/servicePrincipals(appId='11111111-1111-1111-1111-111111111111')");
    expect(missing.status).toBe(404);
  });

  it('does not let an OwnedBy caller create a service principal for an application it does not own', async () => {
    const w = world();
    const mi = managedIdentity(w);
    const other = w.state.applications[0];
    w.state.servicePrincipals = w.state.servicePrincipals.filter((s) => s.appId !== other?.appId);
    const res = await call(w, mi, 'POST', '/v1.0/servicePrincipals', { body: { appId: other?.appId } });
    expect(res.status).toBe(403);
    expect(errorOf(res).code).toBe('Authorization_RequestDenied');
  });
});

describe('app role assignments', () => {
  async function appWithSp(w: World): Promise<{ caller: Caller; sp: Json }> {
    const caller = managedIdentity(w);
    const app = await upsertApp(w, caller, 'consented');
    return { caller, sp: await createServicePrincipal(w, caller, app.appId as string) };
  }

  it('grants Mail.Send, refuses the same grant again, and lists it from both ends', async () => {
    const w = world();
    const { caller, sp } = await appWithSp(w);
    const graphSpId = w.state.graphServicePrincipalId;
    const assignment = { principalId: sp.id, resourceId: graphSpId, appRoleId: MAIL_SEND_ROLE_ID };
    const created = await call(w, caller, 'POST', `/v1.0/servicePrincipals/${graphSpId}/appRoleAssignedTo`, { body: assignment });
    expect(created.status).toBe(201);
    expect(body(created)).toMatchObject({ ...assignment, principalType: 'ServicePrincipal', resourceDisplayName: 'Microsoft Graph' });
    expect(w.state.graphRolesOf(sp.id as string)).toEqual(['Mail.Send']);

    const dupViaOtherEnd = await call(w, caller, 'POST', `/v1.0/servicePrincipals/${sp.id as string}/appRoleAssignments`, { body: assignment });
    expect(dupViaOtherEnd.status).toBe(400);
    expect(errorOf(dupViaOtherEnd)).toMatchObject({ code: 'Request_BadRequest', message: 'Permission being assigned already exists on the object.' });

    const fromClient = await call(w, caller, 'GET', `/v1.0/servicePrincipals/${sp.id as string}/appRoleAssignments`);
    expect((body(fromClient).value as Json[]).map((a) => a.appRoleId)).toEqual([MAIL_SEND_ROLE_ID]);
    const fromGraph = await call(w, operator(w), 'GET', `/v1.0/servicePrincipals/${graphSpId}/appRoleAssignedTo?$filter=principalId eq '${sp.id as string}'`);
    expect((body(fromGraph).value as Json[]).map((a) => a.id)).toEqual([body(created).id]);
    const byRole = await call(w, operator(w), 'GET', `/v1.0/servicePrincipals/${graphSpId}/appRoleAssignedTo?$filter=appRoleId eq '${MAIL_SEND_ROLE_ID}'`);
    expect((body(byRole).value as Json[]).length).toBe(1);

    const del = await call(w, caller, 'DELETE', `/v1.0/servicePrincipals/${sp.id as string}/appRoleAssignments/${body(created).id as string}`);
    expect(del.status).toBe(204);
    expect(w.state.graphRolesOf(sp.id as string)).toEqual([]);
  });

  it('refuses an app role the resource does not define, and callers without AppRoleAssignment.ReadWrite.All', async () => {
    const w = world();
    const { caller, sp } = await appWithSp(w);
    const graphSpId = w.state.graphServicePrincipalId;
    const unknownRole = await call(w, caller, 'POST', `/v1.0/servicePrincipals/${graphSpId}/appRoleAssignedTo`, {
      body: { principalId: sp.id, resourceId: graphSpId, appRoleId: '22222222-2222-2222-2222-222222222222' },
    });
    expect(unknownRole.status).toBe(400);
    expect(errorOf(unknownRole).message).toBe('Permission being assigned was not found on application.');

    const weak = withRoles(w, ['Application.ReadWrite.OwnedBy']);
    const denied = await call(w, weak, 'POST', `/v1.0/servicePrincipals/${graphSpId}/appRoleAssignedTo`, {
      body: { principalId: sp.id, resourceId: graphSpId, appRoleId: MAIL_SEND_ROLE_ID },
    });
    expect(denied.status).toBe(403);
    expect(errorOf(denied).code).toBe('Authorization_RequestDenied');
    expect(w.state.graphRolesOf(sp.id as string)).toEqual([]);
  });
});

describe('oauth2PermissionGrants', () => {
  it('creates a tenant-wide User.Read grant, refuses a duplicate with 409, updates and deletes it', async () => {
    const w = world();
    const mi = managedIdentity(w);
    const app = await upsertApp(w, mi, 'delegated');
    const sp = await createServicePrincipal(w, mi, app.appId as string);
    const graphSpId = w.state.graphServicePrincipalId;
    const grant = { clientId: sp.id, consentType: 'AllPrincipals', resourceId: graphSpId, scope: 'User.Read' };
    const created = await call(w, mi, 'POST', '/v1.0/oauth2PermissionGrants', { body: grant });
    expect(created.status).toBe(201);
    expect(body(created)).toMatchObject({ ...grant, principalId: null });

    const dup = await call(w, mi, 'POST', '/v1.0/oauth2PermissionGrants', { body: grant });
    expect(dup.status).toBe(409);
    expect(errorOf(dup)).toMatchObject({ code: 'Request_MultipleObjectsWithSameKeyValue', message: 'Permission entry already exists.' });

    const found = await call(w, mi, 'GET', `/v1.0/oauth2PermissionGrants?$filter=clientId eq '${sp.id as string}' and resourceId eq '${graphSpId}'`);
    expect((body(found).value as Json[]).map((g) => g.id)).toEqual([body(created).id]);
    const viaSp = await call(w, mi, 'GET', `/v1.0/servicePrincipals/${sp.id as string}/oauth2PermissionGrants`);
    expect((body(viaSp).value as Json[]).length).toBe(1);

    const id = body(created).id as string;
    const patched = await call(w, mi, 'PATCH', `/v1.0/oauth2PermissionGrants/${id}`, { body: { scope: 'User.Read Mail.Send' } });
    expect(patched.status).toBe(204);
    expect(w.state.oauth2PermissionGrants.find((g) => g.id === id)?.scope).toBe('User.Read Mail.Send');
    const badScope = await call(w, mi, 'PATCH', `/v1.0/oauth2PermissionGrants/${id}`, { body: { scope: 'Files.ReadWrite.Everything' } });
    expect(badScope.status).toBe(400);

    expect((await call(w, mi, 'DELETE', `/v1.0/oauth2PermissionGrants/${id}`)).status).toBe(204);
    expect(w.state.oauth2PermissionGrants).toHaveLength(0);
    expect((await call(w, mi, 'DELETE', `/v1.0/oauth2PermissionGrants/${id}`)).status).toBe(404);
  });

  it('refuses a grant from a caller without DelegatedPermissionGrant.ReadWrite.All', async () => {
    const w = world();
    const mi = managedIdentity(w);
    const app = await upsertApp(w, mi, 'delegated');
    const sp = await createServicePrincipal(w, mi, app.appId as string);
    const weak = withRoles(w, ['Application.ReadWrite.OwnedBy', 'AppRoleAssignment.ReadWrite.All']);
    const res = await call(w, weak, 'POST', '/v1.0/oauth2PermissionGrants', {
      body: { clientId: sp.id, consentType: 'AllPrincipals', resourceId: w.state.graphServicePrincipalId, scope: 'User.Read' },
    });
    expect(res.status).toBe(403);
    expect(w.state.oauth2PermissionGrants).toHaveLength(0);
    // Reading its own app's grants still works with OwnedBy.
    const own = await call(w, weak, 'GET', `/v1.0/servicePrincipals/${sp.id as string}/oauth2PermissionGrants`);
    expect(own.status).toBe(200);
  });
});

describe('sendMail', () => {
  const message = {
    message: {
      subject: 'Test from F&O',
      body: { contentType: 'Text', content: 'Graph provider works.' },
      toRecipients: [{ emailAddress: { address: ADMIN_MAILBOX } }],
    },
    saveToSentItems: false,
  };

  function sender(over: Partial<Caller> = {}): Caller {
    return { appId: 'a0000000-0000-0000-0000-00000000000a', servicePrincipalId: 'b0000000-0000-0000-0000-00000000000b', roles: ['Mail.Send'], ...over };
  }

  it('accepts a message with 202 and records who sent what as whom', async () => {
    const w = world();
    const res = await call(w, sender(), 'POST', `/v1.0/users/${SENDER_MAILBOX}/sendMail`, { body: message });
    expect(res.status).toBe(202);
    expect(res.body).toBeUndefined();
    expect(w.state.sentMail).toEqual([
      {
        from: SENDER_MAILBOX,
        senderAppId: sender().appId,
        subject: 'Test from F&O',
        to: [ADMIN_MAILBOX],
        body: 'Graph provider works.',
        sentAt: expect.any(String) as string,
      },
    ]);
  });

  it('answers a token without Mail.Send with Exchange ErrorAccessDenied', async () => {
    const w = world();
    const res = await call(w, managedIdentity(w), 'POST', `/v1.0/users/${SENDER_MAILBOX}/sendMail`, { body: message });
    expect(res.status).toBe(403);
    expect(errorOf(res)).toMatchObject({ code: 'ErrorAccessDenied', message: 'Access is denied. Check credentials and try again.' });
    expect(w.state.sentMail).toHaveLength(0);
  });

  it('answers an unknown mailbox with 404 ErrorInvalidUser', async () => {
    const w = world();
    const res = await call(w, sender(), 'POST', '/v1.0/users/ghost@contoso.onmicrosoft.com/sendMail', { body: message });
    expect(res.status).toBe(404);
    expect(errorOf(res)).toMatchObject({ code: 'ErrorInvalidUser', message: "The requested user 'ghost@contoso.onmicrosoft.com' is invalid." });
  });

  it('enforces the mailbox scope of RBAC for Applications (additive to the Entra grant, as in Exchange)', async () => {
    const w = world();
    const s = sender({ roles: [] });
    expect((await call(w, s, 'POST', `/v1.0/users/${SENDER_MAILBOX}/sendMail`, { body: message })).status).toBe(403);
    w.state.mailboxScopes[s.appId] = [SENDER_MAILBOX];
    expect((await call(w, s, 'POST', `/v1.0/users/${SENDER_MAILBOX}/sendMail`, { body: message })).status).toBe(202);
    const outside = await call(w, s, 'POST', `/v1.0/users/${ADMIN_MAILBOX}/sendMail`, { body: message });
    expect(outside.status).toBe(403);
    expect(errorOf(outside).code).toBe('ErrorAccessDenied');
    expect(w.state.sentMail.map((m) => m.from)).toEqual([SENDER_MAILBOX]);
    // With the tenant-wide Mail.Send grant as well, the scope no longer limits anything.
    const both = sender({ appId: 'c0000000-0000-0000-0000-00000000000c' });
    w.state.mailboxScopes[both.appId] = [SENDER_MAILBOX];
    expect((await call(w, both, 'POST', `/v1.0/users/${ADMIN_MAILBOX}/sendMail`, { body: message })).status).toBe(202);
    w.state.mailboxScopes[s.appId] = null;
    expect((await call(w, s, 'POST', `/v1.0/users/${ADMIN_MAILBOX}/sendMail`, { body: message })).status).toBe(403);
  });

  it('refuses a message without recipients', async () => {
    const w = world();
    const res = await call(w, sender(), 'POST', `/v1.0/users/${SENDER_MAILBOX}/sendMail`, {
      body: { message: { subject: 'x', body: { contentType: 'Text', content: 'x' } } },
    });
    expect(res.status).toBe(400);
    expect(errorOf(res).code).toBe('ErrorInvalidRecipients');
    expect(w.state.sentMail).toHaveLength(0);
  });
});

describe('users', () => {
  it('reads a user by UPN with User.Read.All and refuses callers without a user permission', async () => {
    const w = world();
    const reader = withRoles(w, ['User.Read.All']);
    const res = await call(w, reader, 'GET', `/v1.0/users/${SENDER_MAILBOX}`);
    expect(res.status).toBe(200);
    expect(body(res)).toMatchObject({ userPrincipalName: SENDER_MAILBOX, mail: SENDER_MAILBOX });
    expect((await call(w, reader, 'GET', '/v1.0/users/ghost@contoso.onmicrosoft.com')).status).toBe(404);
    expect((await call(w, managedIdentity(w), 'GET', `/v1.0/users/${SENDER_MAILBOX}`)).status).toBe(403);
  });
});

describe('permission table', () => {
  function claimsWith(roles: string[]): TokenClaims {
    return { aud: GRAPH, iss: '', tid: '', appid: '', azp: '', oid: '', sub: '', idtyp: 'app', roles, iat: 0, nbf: 0, exp: 0 };
  }

  it('gives the seeded managed identity every setup step on its own objects and nothing it does not need', () => {
    const w = world();
    const claims = claimsWith(managedIdentity(w).roles);
    const expected: Record<GraphOperation, string> = {
      'applications.read': 'all',
      'applications.create': 'all',
      'applications.write': 'owned',
      // Adding an owner also needs Directory.Read.All, which the identity does not hold by default.
      'applications.owners.write': 'none',
      'applications.owners.remove': 'owned',
      'servicePrincipals.read': 'all',
      'servicePrincipals.create': 'owned',
      'servicePrincipals.write': 'owned',
      'appRoleAssignments.read': 'all',
      'appRoleAssignments.write': 'all',
      'oauth2PermissionGrants.read': 'all',
      'oauth2PermissionGrants.write': 'all',
      'policies.read': 'none',
      'policies.write': 'none',
      'policies.assign': 'none',
      'auditLogs.signIns.read': 'none',
      'reports.credentialActivity.read': 'none',
      'users.read': 'none',
      'mail.send': 'none',
    };
    for (const operation of Object.keys(GRAPH_PERMISSIONS) as GraphOperation[]) {
      expect([operation, reachOf(claims, operation)]).toEqual([operation, expected[operation]]);
    }
  });

  it('denies every operation to a token without roles', () => {
    const claims = claimsWith([]);
    for (const operation of Object.keys(GRAPH_PERMISSIONS) as GraphOperation[]) expect(reachOf(claims, operation)).toBe('none');
  });
});

describe('through the official Graph client over HTTPS', () => {
  let sandbox: TestSandbox;
  let mi: ManagedIdentityCredential;
  const saved: Record<string, string | undefined> = {};

  function graphClient(credential: TokenCredential): Client {
    const authProvider = new TokenCredentialAuthenticationProvider(credential, { scopes: ['https://graph.microsoft.com/.default'] });
    return Client.initWithMiddleware({
      authProvider,
      baseUrl: `${sandbox.endpoints.graphUrl}/`,
      defaultVersion: 'v1.0',
      // The client only attaches the token to Graph's own hosts and to these.
      customHosts: new Set(['localhost']),
    });
  }

  async function graphErrorOf(promise: Promise<unknown>): Promise<GraphError> {
    try {
      await promise;
    } catch (e) {
      if (e instanceof GraphError) return e;
      throw e;
    }
    throw new Error('the call succeeded but a GraphError was expected');
  }

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    for (const [k, v] of Object.entries(sandbox.managedIdentityEnv())) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    mi = new ManagedIdentityCredential();
  });

  afterAll(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await sandbox.stop();
  });

  it('shows create-if-missing as 201 with the application, then 204 without a body', async () => {
    const client = graphClient(mi);
    const upsert = (): Promise<Response> =>
      client
        .api("/applications(uniqueName='fno-mail-contoso-uat')")
        .header('Prefer', 'create-if-missing')
        .responseType(ResponseType.RAW)
        .patch({ displayName: 'F&O mail (contoso-uat)', signInAudience: 'AzureADMyOrg' }) as Promise<Response>;
    const first = await upsert();
    expect(first.status).toBe(201);
    const created = (await first.json()) as Json;
    expect(created).toMatchObject({ uniqueName: 'fno-mail-contoso-uat', displayName: 'F&O mail (contoso-uat)' });
    const second = await upsert();
    expect(second.status).toBe(204);
    expect(await second.text()).toBe('');
    const read = (await client.api("/applications(uniqueName='fno-mail-contoso-uat')").get()) as Json;
    expect(read.id).toBe(created.id);
  });

  it('raises GraphError with status, code and request id for a 403 and a 404', async () => {
    const reader = graphClient(sandbox.operatorCredential());
    const denied = await graphErrorOf(reader.api('/applications').post({ displayName: 'not allowed' }));
    expect(denied.statusCode).toBe(403);
    expect(denied.code).toBe('Authorization_RequestDenied');
    expect(denied.message).toBe('Insufficient privileges to complete the operation.');
    expect(denied.requestId).toMatch(/^[0-9a-f-]{36}$/);

    const missing = await graphErrorOf(reader.api("/servicePrincipals(appId='99999999-9999-4999-8999-999999999999')").get());
    expect(missing.statusCode).toBe(404);
    expect(missing.code).toBe('Request_ResourceNotFound');
    expect(missing.message).toContain("'99999999-9999-4999-8999-999999999999' does not exist");
  });

  it("retries a 429 with Retry-After through the client's RetryHandler", async () => {
    const client = graphClient(sandbox.operatorCredential());
    sandbox.state.faults.push({ service: 'graph', method: 'GET', pathPattern: '^/v1\\.0/servicePrincipals$', status: 429, count: 1, retryAfterSeconds: 1 });
    const started = Date.now();
    const list = (await client.api('/servicePrincipals').filter(`appId eq '${GRAPH_APP_ID}'`).get()) as { value: Json[] };
    expect(list.value.map((sp) => sp.appId)).toEqual([GRAPH_APP_ID]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    const calls = sandbox.state.calls.filter((c) => c.service === 'graph' && c.path === '/v1.0/servicePrincipals');
    expect(calls.map((c) => c.status)).toEqual([429, 200]);
    expect(sandbox.state.faults).toHaveLength(0);
  });

  it('lets a secret minted by addPassword send mail once Mail.Send is granted', async () => {
    const client = graphClient(mi);
    const app = (await client
      .api("/applications(uniqueName='fno-mail-sender')")
      .header('Prefer', 'create-if-missing')
      .patch({ displayName: 'F&O mail sender' })) as Json;
    const sp = (await client.api('/servicePrincipals').post({ appId: app.appId })) as Json;
    const graphSp = (await client.api(`/servicePrincipals(appId='${GRAPH_APP_ID}')`).get()) as Json;
    await client
      .api(`/servicePrincipals/${graphSp.id as string}/appRoleAssignedTo`)
      .post({ principalId: sp.id, resourceId: graphSp.id, appRoleId: MAIL_SEND_ROLE_ID });
    const credential = (await client
      .api(`/applications/${app.id as string}/addPassword`)
      .post({ passwordCredential: { displayName: 'sandbox test' } })) as Json;

    const sender = graphClient(sandbox.clientSecretCredential(app.appId as string, credential.secretText as string));
    await sender.api(`/users/${sandbox.endpoints.senderMailbox}/sendMail`).post({
      message: {
        subject: 'Graph provider check',
        body: { contentType: 'Text', content: 'Sent with the new secret.' },
        toRecipients: [{ emailAddress: { address: ADMIN_MAILBOX } }],
      },
      saveToSentItems: false,
    });
    expect(sandbox.state.sentMail).toContainEqual(
      expect.objectContaining({ from: sandbox.endpoints.senderMailbox, senderAppId: app.appId, subject: 'Graph provider check', to: [ADMIN_MAILBOX] }),
    );
  });
});
