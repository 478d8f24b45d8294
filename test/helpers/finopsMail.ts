/**
 * Test helper for the emulated F&O's mail: an Entra application with client secrets and Graph's
 * Mail.Send (what the product sets up), the control API's F&O routes as typed calls, and readers of
 * the calls F&O made to Entra and Graph.
 */
import { setGraphRoles } from '../../sandbox/seed';
import type { SandboxState } from '../../sandbox/state';
import type { FinOpsEmailHistoryRecord } from '../../sandbox/types';
import type { ControlReply, TestSandbox } from './sandbox';

const DAY_MS = 24 * 3600 * 1000;

export interface MailApp {
  appId: string;
  /** Adds a client secret valid for `days` (usable at once) and returns it with its key id. */
  addSecret(days?: number): { secret: string; keyId: string };
}

/** A registered application with a service principal and, unless told otherwise, Graph's Mail.Send application permission. */
export function addMailApp(state: SandboxState, name: string, options: { mailSend?: boolean } = {}): MailApp {
  const appId = state.newId();
  const app = {
    id: state.newId(),
    appId,
    uniqueName: name,
    displayName: name,
    signInAudience: 'AzureADMyOrg',
    description: null,
    notes: null,
    tags: [],
    requiredResourceAccess: [],
    passwordCredentials: [] as SandboxState['applications'][number]['passwordCredentials'],
    owners: [],
    createdDateTime: state.nowIso(),
    visibleFrom: 0,
  };
  state.applications.push(app);
  const sp = { id: state.newId(), appId, displayName: name, servicePrincipalType: 'Application' as const, appRoles: [], oauth2PermissionScopes: [], createdDateTime: state.nowIso(), visibleFrom: 0 };
  state.servicePrincipals.push(sp);
  setGraphRoles(state, sp.id, options.mailSend === false ? [] : ['Mail.Send']);
  return {
    appId,
    addSecret(days = 180) {
      const { secretText, hint } = state.mintSecret();
      const keyId = state.newId();
      app.passwordCredentials.push({
        keyId,
        displayName: name,
        hint,
        customKeyIdentifier: null,
        startDateTime: new Date(state.now() - 60_000).toISOString(),
        endDateTime: new Date(state.now() + days * DAY_MS).toISOString(),
        secretText,
        usableFrom: 0,
      });
      return { secret: secretText, keyId };
    },
  };
}

export interface FinOpsView {
  url: string;
  tenantId: string;
  extensionInstalled: boolean;
  emailParameters: { MailerNonInteractive: string; SMTPRelayServerName: string } & Record<string, unknown>;
  graphCredential: { applicationId: string | null; secretSet: boolean; keyId: string | null };
  batch: { running: boolean; intervalMinutes: number; user: string };
  queuedMessages: number;
  emailHistory: FinOpsEmailHistoryRecord[];
}

export interface ControlError {
  error: { code: string; message: string };
}

/** `POST /finops/{id}/{operation}` with a JSON body. */
export function finopsControl<T = FinOpsView>(sandbox: TestSandbox, id: string, operation: string, body: unknown): Promise<ControlReply<T>> {
  return sandbox.control<T>(`/finops/${encodeURIComponent(id)}/${operation}`, { body });
}

/** `/state`'s view of one environment. */
export async function finopsState(sandbox: TestSandbox, id: string): Promise<FinOpsView> {
  const reply = await sandbox.control<{ finops: Record<string, FinOpsView> }>('/state');
  const view = reply.body.finops[id];
  if (!view) throw new Error(`/state has no F&O environment ${id}`);
  return view;
}

/** Advances the virtual clock through the control API and waits for the batch runs it started. */
export async function advance(sandbox: TestSandbox, duration: string): Promise<void> {
  const reply = await sandbox.control('/clock', { body: { advance: duration } });
  if (reply.status !== 200) throw new Error(`the clock did not move: ${JSON.stringify(reply.body)}`);
  await sandbox.finopsMail.idle();
}

/** Token requests to the sandbox Entra made since `since` (an index into the call log). */
export function tokenRequests(state: SandboxState, since = 0): number {
  return state.calls.slice(since).filter((c) => c.service === 'entra' && c.method === 'POST' && c.path.endsWith('/oauth2/v2.0/token')).length;
}

/** Messages Graph accepted from `appId`. */
export function sentBy(state: SandboxState, appId: string): SandboxState['sentMail'] {
  return state.sentMail.filter((m) => m.senderAppId === appId);
}
