/**
 * The dashboard's fleet table by tenant (partner mode): one tenant shows its rows as before, with no
 * header; several show a header row per tenant (tenant id and how many environments), tenants in id
 * order, each tenant's environments under it, and an environment whose first setup is still under way
 * in a group of its own at the end. Rendered as views, without a browser.
 */
import type { EnvironmentRecord } from '../../src/contracts/environment';
import type { OperationView } from '../../src/contracts/operations';
import { createFormats } from '../../src/dashboard/browser/format';
import { fleetPanel } from '../../src/dashboard/browser/panels/fleet';
import type { RenderContext } from '../../src/dashboard/browser/model';
import type { View } from '../../src/dashboard/browser/view';

const NOW = Date.UTC(2030, 0, 1);
const A = '0a0a0a0a-0000-4000-8000-000000000001';
const B = '0b0b0b0b-0000-4000-8000-000000000002';

const ctx: RenderContext = {
  now: NOW,
  leadDays: 30,
  formats: createFormats(() => NOW, 'en-GB'),
  openSteps: new Set(),
  actions: { rotate: () => undefined, sendEvent: () => undefined, stepsToggled: () => undefined },
};

function record(environmentId: string, tenantId: string): EnvironmentRecord {
  return {
    environmentId,
    environmentUrl: `https://${environmentId}.operations.dynamics.com`,
    tenantId,
    appId: `app-${environmentId}`,
    appObjectId: `obj-${environmentId}`,
    credential: { keyId: 'k', secretName: `fno-graph-mail-${environmentId}`, secretVersion: 'v', expiresOn: '2030-06-01T00:00:00.000Z' },
    status: 'active',
  };
}

const setupRunning: OperationView = {
  instanceId: 'setup-newcomer',
  name: 'setupEnvironment',
  runtimeStatus: 'Running',
  createdTime: '2030-01-01T00:00:00.000Z',
  lastUpdatedTime: '2030-01-01T00:00:00.000Z',
  steps: [],
};

/** Each row as the reader sees it: a header's text, or an environment row's id. */
function outline(rows: readonly View[]): string[] {
  return rows.map((row) => {
    if (row.props.className === 'tenant-group') {
      const th = row.children[0] as View;
      expect(th.props.attrs).toMatchObject({ scope: 'colgroup', colspan: 7 });
      return `# ${th.props.text ?? ''}`;
    }
    return String(row.props.attrs?.['data-environment-id']);
  });
}

describe('fleet table by tenant', () => {
  it('shows no tenant header while the fleet is in one tenant', () => {
    const panel = fleetPanel({ environments: [record('contoso-uat', A), record('contoso-prod', A)], operations: [setupRunning] }, ctx);
    expect(outline(panel.rows)).toEqual(['contoso-prod', 'contoso-uat', 'newcomer']);
  });

  it('groups rows under a header per tenant when there are several, unregistered environments last', () => {
    const environments = [record('fabrikam-prod', B), record('contoso-uat', A), record('contoso-prod', A)];
    const panel = fleetPanel({ environments, operations: [setupRunning] }, ctx);
    expect(outline(panel.rows)).toEqual([
      `# Tenant ${A} · 2 environments`,
      'contoso-prod',
      'contoso-uat',
      `# Tenant ${B} · 1 environment`,
      'fabrikam-prod',
      '# Not registered yet · 1 environment',
      'newcomer',
    ]);
  });
});
