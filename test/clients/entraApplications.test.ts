/**
 * EntraApplications against the sandbox's Graph and Entra through the official Graph client and
 * @azure/identity: the app upsert, service principal, consent, client secrets and mail, then the
 * failures a user meets (throttling, replication lag, missing permissions) and what they are told.
 */
import * as net from 'node:net';
import { ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import {
  EntraApplications,
  isServiceError,
  ServiceError,
  type ApplicationDefinition,
  type EntraApplicationsOptions,
  type ServicePrincipal,
} from '../../src/clients';
import { GRAPH_APP_ID, MAIL_SEND_ROLE_ID, USER_READ_SCOPE_ID } from '../../src/contracts/wellKnown';
import { startTestSandbox, type TestSandbox } from '../helpers/sandbox';

interface CallsView {
  calls: Array<{ service: string; method: string; path: string; status: number }>;
}

const REQUIRED = [
  {
    resourceAppId: GRAPH_APP_ID,
    resourceAccess: [
      { id: MAIL_SEND_ROLE_ID, type: 'Role' as const },
      { id: USER_READ_SCOPE_ID, type: 'Scope' as const },
    ],
  },
];

function definition(uniqueName: string, displayName = `F&O Graph mail (${uniqueName})`): ApplicationDefinition {
  return { uniqueName, displayName, signInAudience: 'AzureADMyOrg', requiredResourceAccess: REQUIRED };
}

/** Every ServiceError seen in this file, checked against the minted secrets at the end. */
const seen: ServiceError[] = [];

async function failure(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (e) {
    if (!isServiceError(e)) throw e;
    seen.push(e);
    return e;
  }
  throw new Error('expected the call to fail');
}

/** A local port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function useManagedIdentity(sandbox: TestSandbox): ManagedIdentityCredential {
  const env = sandbox.managedIdentityEnv();
  process.env.IDENTITY_ENDPOINT = env.IDENTITY_ENDPOINT;
  process.env.IDENTITY_HEADER = env.IDENTITY_HEADER;
  return new ManagedIdentityCredential();
}

describe('EntraApplications against the sandbox', () => {
  let sandbox: TestSandbox;
  let mi: ManagedIdentityCredential;
  let entra: EntraApplications;
  const clientFor = (options: EntraApplicationsOptions = {}, credential: TokenCredential = mi): EntraApplications =>
    new EntraApplications(credential, {
      graphBaseUrl: sandbox.endpoints.graphUrl,
      tenantId: sandbox.endpoints.tenantId,
      retry: { maxRetries: 0 },
      ...options,
    });
  const calls = async (): Promise<CallsView['calls']> => (await sandbox.control<CallsView>('/calls')).body.calls;

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    mi = useManagedIdentity(sandbox);
    entra = clientFor();
  });

  afterAll(async () => {
    await sandbox.stop();
  });

  afterEach(async () => {
    await sandbox.control('/faults', { method: 'DELETE' });
  });

  it('upserts the app: created once, then updated in place', async () => {
    const first = await entra.upsertApplication(definition('fno-graph-mail-contoso-uat'), { environmentId: 'contoso-uat' });
    expect(first.created).toBe(true);
    expect(first.application).toMatchObject({
      uniqueName: 'fno-graph-mail-contoso-uat',
      signInAudience: 'AzureADMyOrg',
      requiredResourceAccess: REQUIRED,
      passwordCredentials: [],
    });

    const second = await entra.upsertApplication(definition('fno-graph-mail-contoso-uat', 'Renamed'));
    expect(second.created).toBe(false);
    expect(second.application.objectId).toBe(first.application.objectId);
    expect(second.application.displayName).toBe('Renamed');

    const read = await entra.getApplicationByUniqueName('fno-graph-mail-contoso-uat');
    expect(read?.appId).toBe(first.application.appId);
    const apps = (await sandbox.control<{ applications: Array<{ uniqueName: string | null }> }>('/state')).body.applications;
    expect(apps.filter((a) => a.uniqueName === 'fno-graph-mail-contoso-uat')).toHaveLength(1);
  });

  it('quotes unique names as OData string literals', async () => {
    const { application } = await entra.upsertApplication(definition("o'brien-env"));
    expect(application.uniqueName).toBe("o'brien-env");
    expect((await entra.getApplicationByUniqueName("o'brien-env"))?.objectId).toBe(application.objectId);
  });

  it('answers null for an app that does not exist', async () => {
    expect(await entra.getApplicationByUniqueName('no-such-app')).toBeNull();
  });

  it('ensures the service principal once', async () => {
    const { application } = await entra.upsertApplication(definition('sp-env'));
    const first = await entra.ensureServicePrincipal(application.appId);
    expect(first.created).toBe(true);
    expect(first.servicePrincipal.appId).toBe(application.appId);
    const second = await entra.ensureServicePrincipal(application.appId);
    expect(second).toEqual({ servicePrincipal: first.servicePrincipal, created: false });
    expect(await entra.getServicePrincipal('00000000-0000-0000-0000-0000000000ff')).toBeNull();
  });

  it("reads Graph's service principal once per tenant for the clients sharing its memory, with its roles and scopes", async () => {
    const shared = new Map<string, Promise<ServicePrincipal>>();
    const other = clientFor({ graphServicePrincipals: shared });
    const graphSp = await other.getGraphServicePrincipal();
    expect(graphSp.appId).toBe(GRAPH_APP_ID);
    expect(graphSp.appRoles.find((r) => r.value === 'Mail.Send')?.id).toBe(MAIL_SEND_ROLE_ID);
    expect(graphSp.oauth2PermissionScopes.find((s) => s.value === 'User.Read')?.id).toBe(USER_READ_SCOPE_ID);

    await sandbox.control('/calls', { method: 'DELETE' });
    const again = await clientFor({ graphServicePrincipals: shared }).getGraphServicePrincipal();
    expect(again.objectId).toBe(graphSp.objectId);
    expect((await calls()).filter((c) => c.service === 'graph')).toHaveLength(0);
    // A client with its own memory (another set of services) reads it itself.
    await clientFor().getGraphServicePrincipal();
    expect((await calls()).filter((c) => c.service === 'graph')).toHaveLength(1);
  });

  it('grants consent idempotently and reports it', async () => {
    const { application } = await entra.upsertApplication(definition('consent-env'));
    const { servicePrincipal } = await entra.ensureServicePrincipal(application.appId);
    const graphSp = await entra.getGraphServicePrincipal();

    expect(await entra.getConsentStatus({ servicePrincipalId: servicePrincipal.objectId })).toEqual({
      mailSendGranted: false,
      userReadGranted: false,
      granted: false,
    });

    const role = { principalId: servicePrincipal.objectId, resourceId: graphSp.objectId, appRoleId: MAIL_SEND_ROLE_ID };
    const a1 = await entra.ensureAppRoleAssignment(role);
    expect(a1.created).toBe(true);
    const a2 = await entra.ensureAppRoleAssignment(role);
    expect(a2).toEqual({ assignment: a1.assignment, created: false });

    // An existing grant lacking User.Read is extended rather than duplicated.
    const g0 = await entra.ensureDelegatedGrant({ clientId: servicePrincipal.objectId, resourceId: graphSp.objectId, scope: 'Mail.Send' });
    expect(g0).toMatchObject({ created: true, updated: false });
    const g1 = await entra.ensureDelegatedGrant({ clientId: servicePrincipal.objectId, resourceId: graphSp.objectId, scope: 'User.Read' });
    expect(g1).toMatchObject({ created: false, updated: true });
    expect(g1.grant.scopes).toEqual(['Mail.Send', 'User.Read']);
    const g2 = await entra.ensureDelegatedGrant({ clientId: servicePrincipal.objectId, resourceId: graphSp.objectId, scope: 'User.Read' });
    expect(g2).toMatchObject({ created: false, updated: false });

    const grants = (await sandbox.control<{ oauth2PermissionGrants: Array<{ clientId: string; scope: string }> }>('/state')).body
      .oauth2PermissionGrants.filter((g) => g.clientId === servicePrincipal.objectId);
    expect(grants).toHaveLength(1);
    expect(grants[0]?.scope.split(' ').sort()).toEqual(['Mail.Send', 'User.Read']);

    expect(
      await entra.getConsentStatus({ servicePrincipalId: servicePrincipal.objectId, graphServicePrincipalId: graphSp.objectId }),
    ).toEqual({ mailSendGranted: true, userReadGranted: true, granted: true });
  });

  it('adds, lists and removes client secrets; removal is idempotent', async () => {
    const { application } = await entra.upsertApplication(definition('secret-env'));
    const end = new Date(Date.now() + 180 * 86_400_000);
    const created = await entra.addPassword(application.objectId, { displayName: 'fno-graph-mail op-1', endDateTime: end });
    expect(created.secretText.length).toBeGreaterThan(20);
    expect(created.hint).toBe(created.secretText.slice(0, 3));
    expect(created.displayName).toBe('fno-graph-mail op-1');
    expect(Date.parse(created.endDateTime)).toBe(end.getTime());

    const listed = await entra.listPasswordCredentials(application.objectId);
    expect(listed.map((c) => c.keyId)).toEqual([created.keyId]);
    expect(JSON.stringify(listed)).not.toContain(created.secretText);

    expect(await entra.removePassword(application.objectId, created.keyId)).toEqual({ removed: true });
    expect(await entra.removePassword(application.objectId, created.keyId)).toEqual({ removed: false });
    expect(await entra.listPasswordCredentials(application.objectId)).toEqual([]);
  });

  it('explains a secret lifetime the tenant policy refuses', async () => {
    const { application } = await entra.upsertApplication(definition('policy-env'));
    sandbox.state.passwordLifetimeMaxDays = 90;
    try {
      const e = await failure(
        entra.addPassword(
          application.objectId,
          { displayName: 'too long', endDateTime: new Date(Date.now() + 365 * 86_400_000) },
          { environmentId: 'policy-env' },
        ),
      );
      expect(e.kind).toBe('permanent');
      expect(e.status).toBe(400);
      expect(e.action).toMatch(/app management policy limits secret lifetime/);
      expect(e.message).toMatch(/^Create a client secret failed for environment policy-env: Microsoft Graph answered 400/);
    } finally {
      sandbox.state.passwordLifetimeMaxDays = null;
    }
  });

  it('sends mail with the new secret once Mail.Send is granted', async () => {
    const { application } = await entra.upsertApplication(definition('mail-env'));
    const { servicePrincipal } = await entra.ensureServicePrincipal(application.appId);
    const graphSp = await entra.getGraphServicePrincipal();
    await entra.ensureAppRoleAssignment({ principalId: servicePrincipal.objectId, resourceId: graphSp.objectId, appRoleId: MAIL_SEND_ROLE_ID });
    const secret = await entra.addPassword(application.objectId, { displayName: 'mail', endDateTime: new Date(Date.now() + 86_400_000) });

    const asApp = clientFor({}, sandbox.clientSecretCredential(application.appId, secret.secretText));
    await asApp.sendMail({
      from: sandbox.endpoints.senderMailbox,
      to: ['admin@contoso.onmicrosoft.com'],
      subject: 'F&O Graph mail test',
      bodyText: 'It works.',
    });
    const sent = sandbox.state.sentMail.find((m) => m.subject === 'F&O Graph mail test');
    expect(sent).toMatchObject({ senderAppId: application.appId, to: ['admin@contoso.onmicrosoft.com'], body: 'It works.' });
  });

  it('treats a just-created secret Entra does not accept yet as replication lag, a wrong one as permanent', async () => {
    const { application } = await entra.upsertApplication(definition('fresh-secret-env'));
    await entra.ensureServicePrincipal(application.appId);
    await sandbox.control('/settings', { body: { secretPropagationSeconds: 600 } });
    try {
      const secret = await entra.addPassword(application.objectId, { displayName: 'fresh', endDateTime: new Date(Date.now() + 86_400_000) });
      const fresh = await failure(
        clientFor({}, sandbox.clientSecretCredential(application.appId, secret.secretText)).sendMail(
          { from: sandbox.endpoints.senderMailbox, to: ['admin@contoso.onmicrosoft.com'], subject: 'x', bodyText: 'x' },
          { freshSecret: true, environmentId: 'fresh-secret-env' },
        ),
      );
      expect(fresh.kind).toBe('replication-lag');
      expect(fresh.service).toBe('entra');
      expect(fresh.code).toBe('AADSTS7000215');

      const wrong = await failure(
        clientFor({}, sandbox.clientSecretCredential(application.appId, 'not-the-secret-at-all')).sendMail({
          from: sandbox.endpoints.senderMailbox,
          to: ['admin@contoso.onmicrosoft.com'],
          subject: 'x',
          bodyText: 'x',
        }),
      );
      expect(wrong.kind).toBe('permanent');
      expect(wrong.action).toMatch(/secret was refused/);
    } finally {
      await sandbox.control('/settings', { body: { secretPropagationSeconds: 0 } });
    }
  });

  it('surfaces 429 as transient with the Retry-After delay when retries are exhausted', async () => {
    await sandbox.control('/faults', {
      body: { service: 'graph', method: 'GET', pathPattern: 'uniqueName', status: 429, retryAfterSeconds: 7, count: 1 },
    });
    const e = await failure(entra.getApplicationByUniqueName('throttled', { environmentId: 'contoso-uat' }));
    expect(e).toMatchObject({ kind: 'transient', service: 'graph', status: 429, code: 'TooManyRequests', retryAfterMs: 7000 });
    expect(e.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(e.message).toContain('(request id ');
  });

  it("lets the Graph client's own retry ride out a 429, waiting as told", async () => {
    const patient = clientFor({ retry: { maxRetries: 2 } });
    await sandbox.control('/faults', {
      body: { service: 'graph', method: 'GET', pathPattern: 'uniqueName', status: 429, retryAfterSeconds: 1, count: 1 },
    });
    const started = Date.now();
    expect(await patient.getApplicationByUniqueName('fno-graph-mail-contoso-uat')).not.toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('a refused connection is transient', async () => {
    const closed = await closedPort();
    // A token is at hand (the identity works); only the Graph endpoint refuses connections.
    const token = await mi.getToken(`${sandbox.endpoints.graphUrl}/.default`);
    const unreachable = clientFor({ graphBaseUrl: `https://localhost:${closed}` }, { getToken: () => Promise.resolve(token) });
    const e = await failure(unreachable.getApplicationByUniqueName('anything', { environmentId: 'contoso-uat' }));
    expect(e.kind).toBe('transient');
    expect(e.status).toBeUndefined();
    expect(e.message).toMatch(/^Read the app registration failed for environment contoso-uat: Microsoft Graph could not be reached/);
  });

  it('reports replication lag on objects created moments ago, and succeeds once replicated', async () => {
    await sandbox.control('/settings', { body: { replicationLagSeconds: 120 } });
    try {
      const { application, created } = await entra.upsertApplication(definition('lagging-env'));
      expect(created).toBe(true);
      const sp = await failure(entra.ensureServicePrincipal(application.appId, { environmentId: 'lagging-env' }));
      expect(sp.kind).toBe('replication-lag');
      expect(sp.message).toContain('does not reference a valid application object');

      // The client remembers it created the app: a 404 on it is lag, not absence.
      const pw = await failure(entra.addPassword(application.objectId, { displayName: 'x', endDateTime: new Date(Date.now() + 86_400_000) }));
      expect(pw.kind).toBe('replication-lag');
      expect(pw.code).toBe('Request_ResourceNotFound');

      // Another instance (another activity run) is told by the caller.
      const other = clientFor();
      const listed = await failure(other.listPasswordCredentials(application.objectId, { fresh: true }));
      expect(listed.kind).toBe('replication-lag');
      const unknown = await failure(other.listPasswordCredentials('11111111-1111-1111-1111-111111111111'));
      expect(unknown.kind).toBe('not-found');

      await sandbox.control('/clock', { body: { advance: 'PT3M' } });
      expect((await entra.ensureServicePrincipal(application.appId)).created).toBe(true);
    } finally {
      await sandbox.control('/settings', { body: { replicationLagSeconds: 0 } });
    }
  });

  it('maps the lag codes Graph gives for fresh references', async () => {
    await sandbox.control('/faults', {
      body: { service: 'graph', method: 'POST', pathPattern: 'appRoleAssignedTo', status: 400, code: 'Request_BadRequest', message: 'Not a valid reference update.', count: 1 },
    });
    const { application } = await entra.upsertApplication(definition('ref-env'));
    const { servicePrincipal } = await entra.ensureServicePrincipal(application.appId);
    const graphSp = await entra.getGraphServicePrincipal();
    const e = await failure(
      entra.ensureAppRoleAssignment({ principalId: servicePrincipal.objectId, resourceId: graphSp.objectId, appRoleId: MAIL_SEND_ROLE_ID }),
    );
    expect(e.kind).toBe('replication-lag');
  });

  it('a read-only identity is told which permission to grant', async () => {
    const operator = clientFor({}, sandbox.operatorCredential());
    const e = await failure(operator.upsertApplication(definition('denied-env'), { environmentId: 'denied-env' }));
    expect(e).toMatchObject({ kind: 'permanent', status: 403, code: 'Authorization_RequestDenied', environmentId: 'denied-env' });
    expect(e.action).toContain('Application.ReadWrite.OwnedBy');
    expect(e.requestId).toBeDefined();
  });

  it('no error message in this file carries a minted secret', async () => {
    const minted = (await sandbox.control<{ secrets: string[] }>('/minted-secrets')).body.secrets;
    expect(minted.length).toBeGreaterThan(0);
    expect(seen.length).toBeGreaterThan(5);
    for (const e of seen) {
      const text = `${e.message} ${JSON.stringify(e)} ${e.stack ?? ''}`;
      for (const secret of minted) expect(text).not.toContain(secret);
    }
  });
});
