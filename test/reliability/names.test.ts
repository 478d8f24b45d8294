/**
 * Injective names, against the running app. Two environments whose ids a name-folding scheme would merge
 * (`x-y` and `x--y`), set up at the same moment, get their own app registration, Key Vault secret, runs
 * and run lock, and each F&O its own application's credential. And a registry record is only ever the
 * record of the environment its secret is named after: when someone who may write to the vault copies
 * one environment's tags onto another's secret, the copy answers for neither (the environment's record,
 * the fleet list, an on-demand rotation, the drift check and an expiry event all pass it over).
 * Positive controls: the folding scheme does merge the two ids, and a reader trusting the
 * `environment-id` tag would have taken the copy for the other environment's record; with the tags put
 * back, the environment answers again.
 */
import { randomUUID } from 'node:crypto';
import { secretNameFor, uniqueNameFor } from '../../src/contracts/names';
import { startTestApp, type TestApp } from '../helpers/app';
import { fleetView } from '../helpers/fleet';
import { settle } from '../helpers/settle';
import { drive, endState, NEVER, setupProblems, TimeKeeper } from './support';

const TWINS = ['x-y', 'x--y'];
const SOURCE = 'names-a';
const COPY = 'names-b';

let app: TestApp;
let keeper: TimeKeeper;
let f: ReturnType<typeof fleetView>;

beforeAll(async () => {
  app = await startTestApp({
    sandbox: { environmentIds: [...TWINS, SOURCE, COPY], secretPropagationSeconds: 0, eventGrid: { tickMs: 20, retryScheduleMs: [50, 100, 200] } },
    appSettings: { ROTATION_SWEEP_SCHEDULE: NEVER, DRIFT_CHECK_SCHEDULE: NEVER },
  });
  keeper = new TimeKeeper(app);
  f = fleetView(app);
});

afterAll(async () => {
  await app?.stop();
});

/** The scheme that folded runs of hyphens into one: the positive control's weakened name. */
const foldedSecretName = (id: string): string => `fno-graph-mail-${id.replace(/-+/g, '-')}`;

describe('ids a folding scheme would merge', () => {
  it('positive control: the folding scheme gives both the same secret', () => {
    expect(foldedSecretName(TWINS[0]!)).toBe(foldedSecretName(TWINS[1]!));
  });

  it('set up at the same moment, each gets its own app, secret, runs and lock, and F&O its own credential', async () => {
    const replies = await Promise.all(TWINS.map((id) => app.api('POST', `/api/environments/${id}/setup`, { environmentUrl: app.environmentUrl(id) })));
    expect(replies.map((r) => r.status)).toEqual([202, 202]);
    for (const id of TWINS) expect((await drive(app, keeper, `setup-${id}`)).runtimeStatus).toBe('Completed');

    expect(TWINS.flatMap((id) => setupProblems(endState(app, id)).map((p) => `${id}: ${p}`))).toEqual([]);
    const states = TWINS.map((id) => endState(app, id));
    expect(new Set(states.map((s) => s.appId)).size).toBe(2);
    expect(new Set(TWINS.map(uniqueNameFor)).size).toBe(2);
    const secrets = TWINS.map((id) => app.sandbox.state.secrets.find((s) => s.name === secretNameFor(id)));
    expect(secrets.map((s) => s?.versions.length)).toEqual([1, 1]);
    for (const [i, id] of TWINS.entries()) {
      expect(secrets[i]?.versions[0]?.tags['environment-id']).toBe(id);
      expect(f.finOps(id).graphCredential.applicationId).toBe(states[i]!.appId);
      expect(app.runtime.durable.readEntityState('environmentRun', id)?.state).toEqual({ holder: null });
    }
    const records = await Promise.all(TWINS.map((id) => app.api<{ environmentId: string; appId: string }>('GET', `/api/environments/${id}`)));
    expect(records.map((r) => [r.status, r.body.environmentId, r.body.appId])).toEqual(TWINS.map((id, i) => [200, id, states[i]!.appId]));
  });
});

describe("a record copied onto another environment's secret", () => {
  let ownTags: Record<string, string> = {};

  it('answers for neither environment', async () => {
    for (const id of [SOURCE, COPY]) {
      expect((await app.api('POST', `/api/environments/${id}/setup`, { environmentUrl: app.environmentUrl(id) })).status).toBe(202);
      expect((await drive(app, keeper, `setup-${id}`)).runtimeStatus).toBe('Completed');
    }
    const target = f.currentVersion(COPY);
    ownTags = { ...target.tags };
    target.tags = { ...f.currentVersion(SOURCE).tags };

    expect((await app.api('GET', `/api/environments/${COPY}`)).status).toBe(404);
    const list = await app.api<{ environments: Array<{ environmentId: string; appId: string }> }>('GET', '/api/environments');
    expect(list.body.environments.filter((e) => e.environmentId === SOURCE)).toHaveLength(1);
    expect(list.body.environments.some((e) => e.environmentId === COPY)).toBe(false);
    expect((await app.api('POST', `/api/environments/${COPY}/rotate`, {})).status).toBe(404);

    // The drift check runs for the environments the registry holds: the copy is not one of them.
    const outcome = await app.runtime.timers.runNow('driftCheck');
    if (!outcome.ok) throw outcome.error;
    await settle(app);
    expect(app.runtime.durable.getStatus(`drift-${COPY}`)).toBeUndefined();
    expect((await app.waitForOperation(`drift-${SOURCE}`)).runtimeStatus).toBe('Completed');

    // An expiry event for the copy's secret starts nothing.
    const name = secretNameFor(COPY);
    app.sandbox.eventGrid.publishRaw({
      event: {
        id: randomUUID(),
        topic: app.endpoints.eventGridTopic,
        subject: name,
        eventType: 'Microsoft.KeyVault.SecretExpired',
        eventTime: app.sandbox.state.nowIso(),
        data: { Id: `${app.endpoints.keyVaultUrl}/secrets/${name}/${target.version}`, VaultName: app.endpoints.keyVaultName, ObjectType: 'Secret', ObjectName: name, Version: target.version, NBF: null, EXP: null },
        dataVersion: '1',
        metadataVersion: '1',
      },
    });
    await settle(app);
    expect(f.rotationStarts()).toBe(0);
    expect(app.logs.some((l) => l.message.includes(`ignored Microsoft.KeyVault.SecretExpired for secret ${name}: not managed by this product`))).toBe(true);
  });

  it("positive control: a reader trusting the environment-id tag takes the copy for the other environment's record", () => {
    const byTag = app.sandbox.state.secrets
      .filter((s) => s.deletedDate === null && s.name.startsWith('fno-graph-mail-'))
      .map((s) => s.versions[s.versions.length - 1]?.tags['environment-id']);
    expect(byTag.filter((id) => id === SOURCE)).toHaveLength(2);
  });

  it('positive control: with its own tags back, the environment answers again', async () => {
    f.currentVersion(COPY).tags = ownTags;
    const record = await app.api<{ environmentId: string; appId: string }>('GET', `/api/environments/${COPY}`);
    expect([record.status, record.body.environmentId, record.body.appId]).toEqual([200, COPY, f.application(COPY).appId]);
  });
});
