/**
 * Test helper for the rotation suites: what an operator can observe about one environment in the
 * sandboxed app (its app's live product credentials, Key Vault versions, the credential F&O holds and
 * whether it works, rotation starts, alert lines and alert mail), plus setup and a leak scan.
 */
import { ClientSecretCredential } from '@azure/identity';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import type { Operation, TestApp } from './app';

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
  function waitForGracePeriod(environmentId: string): Promise<Operation> {
    return app.waitForOperation(
      `rotate-${environmentId}`,
      (op) => op.runtimeStatus === 'Running' && op.steps.find((s) => s.name === 'gracePeriod')?.status === 'waiting',
    );
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
      for (const file of listFiles(path.join(app.dir, dir))) haystacks.push([path.relative(app.dir, file), readFileSync(file, 'utf8')]);
    }
    haystacks.push(['runtime output', app.logs.map((l) => JSON.stringify(l)).join('\n')]);
    haystacks.push(['http responses', app.responses.join('\n')]);
    haystacks.push(['sent mail', state.sentMail.map((m) => `${m.subject}\n${m.body}`).join('\n')]);
    const found = secrets.flatMap((secret, i) => haystacks.filter(([, text]) => text.includes(secret)).map(([where]) => `secret #${i} in ${where}`));
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
    alertLines,
    alertMails,
    setUp,
    waitForGracePeriod,
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
