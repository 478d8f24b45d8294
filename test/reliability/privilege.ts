/**
 * What the least-privilege suites share (one app per file: the managed identity's token, and the Graph
 * permissions it carries, is cached per process): setup and rotation end to end with a consent
 * strategy, the consent an administrator gives when asked, and the fail-fast check of a run the
 * identity lacks a permission for.
 */
import { startTestApp, type TestApp } from '../helpers/app';
import { drive, endState, historyCounts, NEVER, recordFigures, rotationProblems, setupProblems, TimeKeeper } from './support';

export interface PrivilegeApp {
  app: TestApp;
  keeper: TimeKeeper;
}

/** The app whose identity holds exactly `roles` (Graph application permissions) from its first token on. */
export async function startWithRoles(roles: string[], environmentIds: string[]): Promise<PrivilegeApp> {
  const app = await startTestApp({
    sandbox: { environmentIds, managedIdentityRoles: roles, secretPropagationSeconds: 0 },
    appSettings: { ROTATION_GRACE_HOURS: '1', ROTATION_SWEEP_SCHEDULE: NEVER, DRIFT_CHECK_SCHEDULE: NEVER },
  });
  const { managedIdentityRoles } = await app.control<{ managedIdentityRoles: string[] }>('/permissions', { managedIdentityRoles: roles });
  if ([...managedIdentityRoles].sort().join() !== [...roles].sort().join()) throw new Error(`the identity holds ${managedIdentityRoles.join(', ')}`);
  return { app, keeper: new TimeKeeper(app) };
}

/**
 * Setup with `consent` (for `request`: an administrator consents at the published URL and the event
 * is raised), then a rotation; returns every way the result differs from a clean run.
 */
export async function setupAndRotate({ app, keeper }: PrivilegeApp, environmentId: string, consent: 'grant' | 'request'): Promise<string[]> {
  const problems: string[] = [];
  const started = await app.api('POST', `/api/environments/${environmentId}/setup`, { environmentUrl: app.environmentUrl(environmentId), consent });
  if (started.status !== 202) return [`setup answered ${started.status}: ${started.text}`];
  const instanceId = `setup-${environmentId}`;
  if (consent === 'request') {
    const waiting = await app.waitForOperation(instanceId, (op) => op.waitingFor?.event === 'ConsentGranted' || op.runtimeStatus === 'Failed');
    if (waiting.runtimeStatus === 'Failed') return [`setup failed before asking for consent: ${waiting.error ?? ''}`];
    const appId = new URL(String(waiting.waitingFor?.instructions.consentUrl)).searchParams.get('client_id') ?? '';
    await app.control('/consent', { appId });
    const raised = await app.api('POST', `/api/operations/${instanceId}/events/ConsentGranted`, {});
    if (raised.status !== 202) problems.push(`ConsentGranted answered ${raised.status}`);
  }
  const setup = await drive(app, keeper, instanceId);
  if (setup.runtimeStatus !== 'Completed') return [...problems, `setup ${setup.runtimeStatus}: ${JSON.stringify(setup.output)}`];
  problems.push(...setupProblems(endState(app, environmentId)).map((p) => `after setup: ${p}`));

  const previous = endState(app, environmentId).liveCredentials[0] ?? '';
  keeper.watchGrace(`rotate-${environmentId}`, environmentId);
  const rotate = await app.api('POST', `/api/environments/${environmentId}/rotate`, {});
  if (rotate.status !== 202) return [...problems, `rotate answered ${rotate.status}: ${rotate.text}`];
  const rotation = await drive(app, keeper, `rotate-${environmentId}`);
  keeper.unwatch(`rotate-${environmentId}`);
  if (rotation.runtimeStatus !== 'Completed') return [...problems, `rotation ${rotation.runtimeStatus}: ${JSON.stringify(rotation.output)}`];
  const grace = keeper.graceStates.get(`rotate-${environmentId}`);
  problems.push(...(grace ? rotationProblems(grace, previous, 'grace') : ['grace unobserved']).map((p) => `during grace: ${p}`));
  problems.push(...rotationProblems(endState(app, environmentId), previous, 'done').map((p) => `after rotation: ${p}`));
  return problems;
}

/** Starts a setup that must fail at once; returns the run's error (what a person reads) and how it failed. */
export async function failingSetup(
  { app, keeper }: PrivilegeApp,
  environmentId: string,
  consent: 'grant' | 'request',
): Promise<{ status: string; error: string; failedStep: string | undefined; retried: boolean; appRegistrations: number; credentials: number }> {
  const started = await app.api('POST', `/api/environments/${environmentId}/setup`, { environmentUrl: app.environmentUrl(environmentId), consent });
  if (started.status !== 202) throw new Error(`setup answered ${started.status}: ${started.text}`);
  // No clock moves: a retry timer would fail the drive.
  const status = await drive(app, keeper, `setup-${environmentId}`, { maxAdvanceMs: 0 });
  const op = await app.api<{ error?: string; steps: Array<{ name: string; status: string }> }>('GET', `/api/operations/setup-${environmentId}`);
  const state = endState(app, environmentId);
  return {
    status: status.runtimeStatus,
    error: op.body.error ?? '',
    failedStep: op.body.steps.find((s) => s.status === 'failed')?.name,
    retried: historyCounts(app, `setup-${environmentId}`).timers > 0,
    appRegistrations: state.applications,
    credentials: state.productCredentials.length,
  };
}

/** One row of the permission table: what a consent strategy needs, as verified end to end. */
export function recordPermissionRow(strategy: string, row: Record<string, unknown>): void {
  recordFigures(`leastPrivilege.${strategy}`, row);
}
