/**
 * Two environments set up, then the sandbox clock driven through three years in steps: the daily
 * sweep and Key Vault's expiry events keep every credential valid. F&O sends all the while (its email
 * batch runs, so every step it signs in with what it holds) and the product reads Entra's sign-in log:
 * every rotation is proven and its old credential revoked only once F&O has moved. At every step F&O
 * holds a working credential (Entra issues a token for exactly what F&O holds), its own email history
 * shows no failure a credential caused, no app has more than two live product credentials, and nothing
 * is orphaned at the end.
 */
import { DEPLOYED_MANAGED_IDENTITY_ROLES } from '../../sandbox/seed';
import type { FinOpsEmailHistoryRecord } from '../../sandbox/types';
import { startTestApp, type TestApp } from '../helpers/app';
import { settle } from '../helpers/settle';

// Two, so that they share the sweep, the fleet listing and the tenant; every environment does the same
// (a third, set up alike, ran the same behaviours again: about a third of the file's CPU).
const ENVIRONMENTS = ['contoso-uat', 'contoso-prod'];
const DAY = 86_400_000;

let app: TestApp;

beforeAll(async () => {
  app = await startTestApp({
    sandbox: {
      environmentIds: ENVIRONMENTS,
      secretPropagationSeconds: 0,
      eventGrid: { tickMs: 20, retryScheduleMs: [50, 100, 200] },
      managedIdentityRoles: DEPLOYED_MANAGED_IDENTITY_ROLES,
      finopsBatch: { running: true, intervalMinutes: 1 },
    },
    appSettings: {
      SECRET_LIFETIME_DAYS: '90',
      ROTATION_LEAD_DAYS: '30',
      ROTATION_GRACE_HOURS: '24',
      // Virtual time moves in 5-day steps, so F&O's batch runs (and signs in) once per step: a proof
      // takes two steps, and silence between steps is the test's, not F&O's.
      EVIDENCE_TIMEOUT_HOURS: '720',
      EVIDENCE_SILENCE_HOURS: '0',
    },
  });
});

afterAll(async () => {
  await app?.stop();
});

/**
 * Asks Entra for a Graph token with exactly what F&O holds, as F&O does: a client-credentials request
 * (RFC 6749 §4.4) to the tenant's token endpoint. A plain request rather than a new credential object per
 * environment and step (438 of them): MSAL's set-up and discovery for each would add seconds and check nothing more.
 */
async function rolesWithWhatFinOpsHolds(environmentId: string): Promise<string[]> {
  const env = app.sandbox.state.finops.find((e) => e.id === environmentId)!;
  const { applicationId, secret } = env.graphCredential;
  if (!applicationId || !secret) return [];
  const response = await fetch(`${app.endpoints.authorityHost}/${app.endpoints.tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: applicationId, client_secret: secret, scope: 'https://graph.microsoft.com/.default' }),
  });
  const body = (await response.json()) as { access_token?: string; error_description?: string };
  if (!response.ok || !body.access_token) throw new Error(`F&O of ${environmentId} gets no token: ${response.status} ${body.error_description ?? ''}`);
  const claims = JSON.parse(Buffer.from(body.access_token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { roles?: string[] };
  return claims.roles ?? [];
}

function productCredentials(environmentId: string) {
  const application = app.sandbox.state.applications.find((a) => a.uniqueName === `fno-graph-mail-${environmentId}`)!;
  return application.passwordCredentials.filter((c) => c.displayName?.startsWith('fno-graph-mail '));
}

it('keeps every environment able to send mail for three years', async () => {
  for (const id of ENVIRONMENTS) {
    const reply = await app.api('POST', `/api/environments/${id}/setup`, { environmentUrl: app.environmentUrl(id) });
    expect(reply.status).toBe(202);
  }
  for (const id of ENVIRONMENTS) expect((await app.waitMovingClock(`setup-${id}`)).runtimeStatus).toBe('Completed');

  const start = app.sandbox.state.now();
  // F&O's email history, as it grows (it keeps 30 days; each step is 5).
  const history = new Map<string, FinOpsEmailHistoryRecord[]>(ENVIRONMENTS.map((id) => [id, []]));
  const collect = (): void => {
    for (const id of ENVIRONMENTS) {
      const seen = history.get(id)!;
      const last = seen.length > 0 ? Date.parse(seen[seen.length - 1]!.at) : 0;
      const env = app.sandbox.state.finops.find((e) => e.id === id)!;
      seen.push(...env.emailHistory.filter((r) => Date.parse(r.at) > last).reverse());
    }
  };
  collect();
  const seenKeys = new Map<string, Set<string>>(ENVIRONMENTS.map((id) => [id, new Set<string>()]));
  let maxLive = 0;
  for (let day = 0; day < 3 * 365; day += 5) {
    await app.advanceClock('P5D');
    await settle(app);
    collect();
    const now = app.sandbox.state.now();
    for (const id of ENVIRONMENTS) {
      const roles = await rolesWithWhatFinOpsHolds(id);
      if (!roles.includes('Mail.Send')) throw new Error(`day ${Math.round((now - start) / DAY)}: F&O of ${id} holds no working credential`);
      const live = productCredentials(id).filter((c) => Date.parse(c.endDateTime) > now);
      maxLive = Math.max(maxLive, live.length);
      expect(live.length).toBeLessThanOrEqual(2);
      for (const c of live) seenKeys.get(id)!.add(c.keyId);
    }
  }
  expect(maxLive).toBeLessThanOrEqual(2);

  // Each environment went through several rotations (90-day secrets, rotated 30 days before expiry).
  for (const id of ENVIRONMENTS) expect(seenKeys.get(id)!.size).toBeGreaterThanOrEqual(15);

  // F&O sent all along, with each new credential in turn, and no send failed because of a credential.
  for (const id of ENVIRONMENTS) {
    const sends = history.get(id)!.filter((r) => r.provider === 'Graph');
    expect(sends.length).toBeGreaterThanOrEqual(3 * 365 / 5);
    expect(new Set(sends.map((r) => r.keyId)).size).toBeGreaterThanOrEqual(15);
    const failed = sends.filter((r) => r.status === 'failed');
    expect(failed.map((r) => `${r.at} ${r.error ?? ''}`)).toEqual([]);
  }
  // The registry says what Entra showed: each current credential proven by F&O's sign-ins, or not yet
  // only when it was stored in the last step (a rotation delivered then; F&O signs in with it at the next).
  const listed = await app.api<{ environments: Array<{ environmentId: string; status: string; finops?: { provenAt?: string } }> }>('GET', '/api/environments');
  expect(listed.body.environments.map((e) => e.environmentId).sort()).toEqual([...ENVIRONMENTS].sort());
  const lastStepStarted = app.sandbox.state.now() - 5 * DAY;
  for (const env of listed.body.environments) {
    const current = app.sandbox.state.secrets.find((s) => s.name === `fno-graph-mail-${env.environmentId}`)!.versions.at(-1)!;
    const storedInLastStep = current.created * 1000 >= lastStepStarted;
    expect({ environmentId: env.environmentId, status: env.status }).toEqual({ environmentId: env.environmentId, status: storedInLastStep ? expect.stringMatching(/^(active|unproven)$/) : 'active' });
    if (env.status === 'active') expect(env.finops?.provenAt).toEqual(expect.any(String));
  }

  // No orphans: every product credential left is the one the current Key Vault version records, and F&O holds it.
  for (const id of ENVIRONMENTS) {
    const creds = productCredentials(id);
    const secret = app.sandbox.state.secrets.find((s) => s.name === `fno-graph-mail-${id}`)!;
    const enabled = secret.versions.filter((v) => v.enabled);
    const current = secret.versions[secret.versions.length - 1]!;
    const heldKey = app.sandbox.state.findLiveCredentialBySecret(app.sandbox.state.finops.find((e) => e.id === id)!.graphCredential.secret ?? '')?.keyId;
    // A rotation may be inside its grace period at the end: then the previous credential is still live, and recorded.
    for (const c of creds) expect(enabled.map((v) => v.tags['credential-key-id'])).toContain(c.keyId);
    expect(heldKey).toBe(current.tags['credential-key-id']);
    expect(creds.length).toBeLessThanOrEqual(2);
  }

  // Nothing expired while it was F&O's credential.
  const expired = app.sandbox.eventGrid.events({ eventType: 'Microsoft.KeyVault.SecretExpired' });
  for (const e of expired) {
    const data = (e.event as { data: { ObjectName: string; Version: string } }).data;
    const secret = app.sandbox.state.secrets.find((s) => s.name === data.ObjectName)!;
    const version = secret.versions.find((v) => v.version === data.Version)!;
    expect(version.enabled).toBe(false);
  }
  const alerts = app.logs.filter((l) => l.message.includes('fno-graph-mail.alert'));
  expect(alerts).toEqual([]);
}, 600_000);
