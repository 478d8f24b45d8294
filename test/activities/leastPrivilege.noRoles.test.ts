/**
 * The setup activities when the function app's managed identity holds no Graph permission at all:
 * registration fails at once as a permanent error that says which permission to grant, and nothing is
 * created. (Its own file: the identity's Graph token, roles included, is cached per process.)
 */
import { startActivityHarness, type ActivityHarness } from './harness';

let h: ActivityHarness;

beforeAll(async () => {
  h = await startActivityHarness({ environmentIds: ['no-roles'] });
  // Before the identity's first Graph token, which carries its roles.
  const reply = await h.sandbox.control<{ managedIdentityRoles: string[] }>('/permissions', { body: { managedIdentityRoles: [] } });
  expect(reply.body.managedIdentityRoles).toEqual([]);
});

afterAll(async () => {
  await h.stop();
});

describe('with no Graph permission', () => {
  it('registration fails fast with a 403 that names Application.ReadWrite.OwnedBy, and creates nothing', async () => {
    const before = await h.state();
    await h.clearCalls();
    const error = await h.failure('registerApplication', {
      environmentId: 'no-roles',
      tenantId: h.sandbox.endpoints.tenantId,
      displayName: 'F&O Graph mail (no-roles)',
    });
    expect(error.kind).toBe('permanent');
    expect(error.retryable).toBe(false);
    expect(error.service).toBe('graph');
    expect(error.status).toBe(403);
    expect(error.code).toBe('Authorization_RequestDenied');
    expect(error.requestId).toBeDefined();
    expect(error.message).toContain('for environment no-roles');
    expect(error.message).toContain(
      "Grant the function app's identity the Graph application permission Application.ReadWrite.OwnedBy",
    );
    // Failed fast: one refused read, no retries, no write.
    const graphCalls = (await h.sandbox.control<{ calls: Array<{ service: string; method: string }> }>('/calls')).body.calls.filter(
      (c) => c.service === 'graph',
    );
    expect(graphCalls).toHaveLength(1);
    expect(await h.writes()).toEqual([]);
    const after = await h.state();
    expect(after.applications).toEqual(before.applications);
  });

  it('no secret appears in the error', async () => {
    const { minted, leaked } = await h.leaks();
    expect(minted).toBeGreaterThanOrEqual(1);
    expect(leaked).toBe(0);
  });
});
