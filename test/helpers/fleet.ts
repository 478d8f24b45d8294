/**
 * Test helper for the rotation suites: what an operator can observe about one environment in the
 * sandboxed app (its app's live product credentials, Key Vault versions, the credential F&O holds and
 * whether it works, rotation starts, alert lines and alert mail), plus setup and a leak scan.
 */
import { ClientSecretCredential } from '@azure/identity';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import type { Operation, TestApp } from './app';
import { findLeaks } from './leakForms';

export const secretNameOf = (environmentId: string): string => `fno-graph-mail-${environmentId}`;

export function fleetView(app: TestApp, alertRecipient?: string) {
  const state = app.sandbox.state;

  function application(environmentId: string) {
    const found = state.applications.find((a) => a.uniqueName === `fno-graph-mail-${environmentId}`);
    if (!found) throw new Error(`no application for ${environmentId}`);
    return found;
  }

  function productCredentials(environmentId: string) {
    return application(environmentId).passwordCredentials.filter((c) => c.displayName?.startsWith('fno-graph-mail ') ?? false);
  }

  function liveProductCredentials(environmentId: string) {
    const now = state.now();
    return productCredentials(environmentId).filter((c) => Date.parse(c.endDateTime) > now);
  }

  function versions(environmentId: string) {
    return state.secrets.find((s) => s.name === secretNameOf(environmentId))?.versions ?? [];
  }

  function currentVersion(environmentId: string) {
    const all = versions(environmentId);
    const last = all[all.length - 1];
    if (!last) throw new Error(`no Key Vault version for ${environmentId}`);
    return last;
  }

  /**
   * Makes the environment's current credential expire a minute ago, in Key Vault (the version's `exp`)
   * and in Entra (the credential's end), as time would: what a genuine expiry event reports. Returns the
   * expiry in epoch seconds.
   */
  function expireCurrentCredential(environmentId: string): number {
    const current = currentVersion(environmentId);
    const expiredAt = Math.floor(state.now() / 1000) - 60;
    current.exp = expiredAt;
    const credential = application(environmentId).passwordCredentials.find((c) => c.keyId === current.tags['credential-key-id']);
    if (credential) credential.endDateTime = new Date(expiredAt * 1000).toISOString();
    return expiredAt;
  }

  function finOps(environmentId: string) {
    const env = state.finops.find((e) => e.id === environmentId);
    if (!env) throw new Error(`no F&O environment ${environmentId}`);
    return env;
  }

  /** Key id of the live credential F&O holds (matched by its secret), or undefined when it holds none. */
  function finOpsKeyId(environmentId: string): string | undefined {
    const secret = finOps(environmentId).graphCredential.secret;
    return secret ? state.findLiveCredentialBySecret(secret)?.keyId : undefined;
  }

  /** What F&O gets from Entra with what it holds: the roles of an app-only Graph token (none when refused). */
  async function rolesWithWhatFinOpsHolds(environmentId: string): Promise<string[]> {
    const { applicationId, secret } = finOps(environmentId).graphCredential;
    if (!applicationId || !secret) return [];
    const credential = new ClientSecretCredential(app.endpoints.tenantId, applicationId, secret, {
      authorityHost: app.endpoints.authorityHost,
      disableInstanceDiscovery: true,
    });
    try {
      const token = await credential.getToken('https://graph.microsoft.com/.default');
      const claims = JSON.parse(Buffer.from(token.token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { roles?: string[] };
      return claims.roles ?? [];
    } catch {
      return [];
    }
  }

  /** How many rotation runs were started for the environment (the runtime logs each start). */
  function rotationStarts(environmentId?: string): number {
    return app.logs.filter(
      (l) => l.message.startsWith("Scheduled orchestration 'rotateCredential'") && (environmentId === undefined || l.instanceId === `rotate-${environmentId}`),
    ).length;
  }

  function alertLines(environmentId: string) {
    return app.logs.filter((l) => l.level === 'error' && l.message.includes('fno-graph-mail.alert') && l.message.includes(environmentId));
  }

  function alertMails(environmentId: string) {
    return state.sentMail.filter((m) => (alertRecipient === undefined || m.to.includes(alertRecipient)) && m.subject.includes(environmentId));
  }

  async function setUp(environmentId: string, extra: Record<string, unknown> = {}): Promise<Operation> {
    const reply = await app.api('POST', `/api/environments/${environmentId}/setup`, { environmentUrl: app.environmentUrl(environmentId), ...extra });
    if (reply.status !== 202) throw new Error(`setup of ${environmentId} answered ${reply.status}: ${reply.text}`);
    const done = await app.waitForOperation(`setup-${environmentId}`);
    if (done.runtimeStatus !== 'Completed') throw new Error(`setup of ${environmentId} ended ${done.runtimeStatus}: ${done.error ?? ''}`);
    return done;
  }

  /** Polls until the environment's rotation run waits out its grace period (new credential delivered and verified). */
  /** Waits until the environment's rotation (or, with `kind: 'drift'`, its drift run) holds the previous credential in its grace period. */
  function waitForGracePeriod(environmentId: string, kind: 'rotate' | 'drift' = 'rotate'): Promise<Operation> {
    return app.waitForOperation(
      `${kind}-${environmentId}`,
      (op) => op.runtimeStatus === 'Running' && op.steps.find((s) => s.name === 'gracePeriod')?.status === 'waiting',
    );
  }

  /**
   * The run replacing the environment's credential once it holds the previous one in its grace period:
   * the rotation, or the drift run when that took the environment first (both replace a due credential).
   */
  async function replacementInGracePeriod(environmentId: string, timeoutMs = 60_000): Promise<Operation> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const instanceId of [`rotate-${environmentId}`, `drift-${environmentId}`]) {
        const reply = await app.api<Operation>('GET', `/api/operations/${instanceId}`);
        if (reply.status === 200 && reply.body.runtimeStatus === 'Running' && reply.body.steps.find((s) => s.name === 'gracePeriod')?.status === 'waiting') {
          return reply.body;
        }
      }
      if (Date.now() > deadline) throw new Error(`no run of ${environmentId} reached its grace period in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Where minted secrets appear: durable files, log files, runtime output, HTTP responses, sent mail.
   * Returns one `secret #n in <place>` entry per finding (empty when nothing leaked), the places
   * scanned and how many secrets were looked for. The entries never carry the secret itself.
   */
  async function leaks(): Promise<{ leaks: string[]; scanned: string[]; secrets: number }> {
    const { secrets } = await app.control<{ secrets: string[] }>('/minted-secrets');
    const haystacks: Array<[string, string]> = [];
    for (const dir of ['durable', 'logs']) {
      for (const file of listFiles(path.join(app.temporaryDir, dir))) haystacks.push([path.relative(app.temporaryDir, file), readFileSync(file, 'utf8')]);
    }
    haystacks.push(['runtime output', app.logs.map((l) => JSON.stringify(l)).join('\n')]);
    haystacks.push(['http responses', app.responses.join('\n')]);
    haystacks.push(['sent mail', state.sentMail.map((m) => `${m.subject}\n${m.body}`).join('\n')]);
    const found = findLeaks(secrets, haystacks);
    return { leaks: found, scanned: haystacks.map(([where]) => where), secrets: secrets.length };
  }

  return {
    application,
    productCredentials,
    liveProductCredentials,
    versions,
    currentVersion,
    finOps,
    finOpsKeyId,
    rolesWithWhatFinOpsHolds,
    rotationStarts,
    expireCurrentCredential,
    alertLines,
    alertMails,
    setUp,
    waitForGracePeriod,
    replacementInGracePeriod,
    leaks,
  };
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...listFiles(full));
    else out.push(full);
  }
  return out;
}
