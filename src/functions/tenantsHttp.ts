/**
 * The tenant routes (partner mode): `GET /api/tenants` (the home tenant, then every customer tenant,
 * with consent state, granted permissions and environment count), `POST /api/tenants/{tenantId}/onboard`
 * (starts the tenant's `onboardTenant` run) and `DELETE /api/tenants/{tenantId}` (first a report of
 * everything the product created there and a confirmation token; with `?confirm=<token>`, the
 * `offboardTenant` run that removes exactly that). Reads only: everything that writes is a run.
 */
import { createHash } from 'node:crypto';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { DurableClient } from 'durable-functions';
import { z } from 'zod';
import type { AppConfig } from '../config';
import { now as clockNow } from '../clock';
import type { EnvironmentRecord } from '../contracts/environment';
import { tenantRunOfInstanceId, tenantSecretNameFor } from '../contracts/names';
import { toEnvironmentRecord, toTenantRecord, type FleetRegistry } from '../contracts/registry';
import { tenantIdSchema } from '../contracts/setup';
import type { TenantList, TenantReads, TenantRecord, TenantRemovalReport, TenantView } from '../contracts/tenants';
import { BadRequest, json, parseWith, problem, readJsonBody, statusUrlFor } from './http';
import { activeTenantRun, buildOnboardInput, durableClientHost, environmentsIdle, operatorConsentUrl, startTenantRun, type RunStatus } from './runs';

export interface TenantServices {
  registry: FleetRegistry;
  tenants: TenantReads;
  config: AppConfig;
}

/** Everything the registry holds about tenants: their records and the environments in each. */
async function readRegistry(registry: FleetRegistry, config: AppConfig): Promise<{ records: Map<string, TenantRecord>; environments: EnvironmentRecord[] }> {
  const records = new Map<string, TenantRecord>();
  const environments: EnvironmentRecord[] = [];
  const now = clockNow();
  for await (const page of registry.pages()) {
    for (const entry of page) {
      const tenant = toTenantRecord(entry);
      if (tenant) {
        records.set(tenant.tenantId, tenant);
        continue;
      }
      const env = toEnvironmentRecord(entry, now, config.rotation.leadDays);
      if (env) environments.push(env);
    }
  }
  return { records, environments };
}

function tenantRunRefused(request: HttpRequest, tenantId: string, running: RunStatus): HttpResponseInit {
  const of = tenantRunOfInstanceId(running.instanceId) ? `tenant ${tenantId}` : `an environment of tenant ${tenantId}`;
  return problem({
    status: 409,
    title: 'Already running',
    detail: `A ${running.name} run is ${running.runtimeStatus.toLowerCase()} for ${of}; follow it at statusUrl and try again once it has ended.`,
    instanceId: running.instanceId,
    statusUrl: statusUrlFor(request, running.instanceId),
  });
}

const partnerModeOff = (): HttpResponseInit =>
  problem({
    status: 400,
    title: 'Partner mode is off',
    detail: 'OPERATOR_CLIENT_ID is not set: this deployment works in its home tenant only. To manage customer tenants, deploy with PARTNER_MODE=true (docs/deploying.md, Partner mode).',
  });

/** What the removal report's token is a digest of: everything it would remove, in a stable order. */
function digest(report: Omit<TenantRemovalReport, 'confirmationToken' | 'confirmUrl'>): string {
  const basis = {
    tenantId: report.tenantId,
    applications: report.applications.map((a) => `${a.objectId}/${a.appId}/${a.environmentId}`).sort(),
    environments: report.environments.map((e) => `${e.environmentId}/${e.secretName}/${e.appObjectId}`).sort(),
    keyVaultRecords: [...report.keyVaultRecords].sort(),
  };
  return createHash('sha256').update(JSON.stringify(basis)).digest('hex').slice(0, 32);
}

export function createTenantHandlers(services: () => TenantServices) {
  /** `GET /api/tenants`. */
  async function listTenantsHttp(_request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
    const { registry, tenants, config } = services();
    const { records, environments } = await readRegistry(registry, config);
    const counts = new Map<string, number>();
    for (const env of environments) counts.set(env.tenantId, (counts.get(env.tenantId) ?? 0) + 1);
    const home: TenantView = { tenantId: config.tenantId, home: true, consent: 'home', grantedPermissions: null, environments: counts.get(config.tenantId) ?? 0 };
    try {
      home.grantedPermissions = [...new Set(await tenants.grantedPermissions(config.tenantId))].sort();
    } catch (error) {
      home.note = `the identity's permissions could not be read now: ${error instanceof Error ? error.message : String(error)}`;
    }
    const customerIds = [...new Set([...records.keys(), ...counts.keys()])].filter((t) => t !== config.tenantId).sort();
    const customers = customerIds.map((tenantId): TenantView => {
      const record = records.get(tenantId);
      const environmentsThere = counts.get(tenantId) ?? 0;
      if (!record) return { tenantId, home: false, consent: 'not-onboarded', grantedPermissions: null, environments: environmentsThere, note: 'environments are recorded in this tenant, but no onboarding recorded it' };
      const consentUrl = record.consent === 'pending' ? operatorConsentUrl(config, tenantId) : undefined;
      return {
        tenantId,
        home: false,
        consent: record.consent,
        grantedPermissions: record.grantedPermissions,
        requiredPermissions: record.requiredPermissions,
        operatorAppId: record.operatorAppId,
        ...(consentUrl ? { consentUrl } : {}),
        ...(record.onboardedAt ? { onboardedAt: record.onboardedAt } : {}),
        checkedAt: record.checkedAt,
        environments: environmentsThere,
      };
    });
    return json(200, { partnerMode: config.operatorClientId !== undefined, tenants: [home, ...customers] } satisfies TenantList);
  }

  /** `POST /api/tenants/{tenantId}/onboard` → 202, 400 (partner mode off, the home tenant), 409 (a run of the tenant is active). */
  async function onboardTenantHttp(request: HttpRequest, client: DurableClient, context: InvocationContext): Promise<HttpResponseInit> {
    try {
      const tenantId = parseWith(tenantIdSchema, request.params.tenantId ?? '', 'tenantId');
      // The request takes no options: an empty body or `{}`.
      parseWith(z.strictObject({}), await readJsonBody(request));
      const { config } = services();
      if (!config.operatorClientId) return partnerModeOff();
      if (tenantId === config.tenantId) {
        throw new BadRequest(`Tenant ${tenantId} is the home tenant: the function app's own identity works there, so there is nothing to consent to.`, 'tenantId');
      }
      const outcome = await startTenantRun(durableClientHost(client), 'onboard', buildOnboardInput(tenantId, config));
      if (!outcome.started) return tenantRunRefused(request, tenantId, outcome.running);
      context.info(`onboarding started for tenant ${tenantId} (instance ${outcome.instanceId})`);
      const statusUrl = statusUrlFor(request, outcome.instanceId);
      return json(202, { instanceId: outcome.instanceId, statusUrl }, { Location: statusUrl, 'Retry-After': '2' });
    } catch (error) {
      if (error instanceof BadRequest) return error.toResponse();
      throw error;
    }
  }

  /**
   * `DELETE /api/tenants/{tenantId}`: 200 with the removal report; with `?confirm=<token>` 202 and the
   * removal run, or 409 when the tenant changed since (the new report comes with it). 400 for the home
   * tenant, 404 for a tenant the product knows nothing of, 409 while a run of the tenant or of one of its
   * environments is active.
   */
  async function removeTenantHttp(request: HttpRequest, client: DurableClient, context: InvocationContext): Promise<HttpResponseInit> {
    try {
      const tenantId = parseWith(tenantIdSchema, request.params.tenantId ?? '', 'tenantId');
      const confirm = request.query.get('confirm');
      const { registry, tenants, config } = services();
      if (!config.operatorClientId) return partnerModeOff();
      if (tenantId === config.tenantId) {
        throw new BadRequest(`Tenant ${tenantId} is the home tenant: it holds the function app, its identity and the vault, and cannot be removed.`, 'tenantId');
      }
      const { records, environments: all } = await readRegistry(registry, config);
      const record = records.get(tenantId);
      const environments = all.filter((e) => e.tenantId === tenantId).sort((a, b) => a.environmentId.localeCompare(b.environmentId));
      if (!record && environments.length === 0) {
        return problem({ status: 404, title: 'Unknown tenant', detail: `The product has no record and no environment of tenant ${tenantId}.` });
      }
      const host = durableClientHost(client);
      const tenantRun = await activeTenantRun(host, tenantId);
      if (tenantRun) return tenantRunRefused(request, tenantId, tenantRun);
      const idle = await environmentsIdle(host, environments.map((e) => e.environmentId));
      if (idle.busy) return tenantRunRefused(request, tenantId, idle.busy);

      let found: Awaited<ReturnType<TenantReads['productApplications']>>;
      const notes: string[] = [];
      try {
        found = await tenants.productApplications(tenantId);
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (code !== 'AADSTS7000229') {
          return problem({ status: 502, title: 'The tenant could not be read', detail: `Listing the product's applications in tenant ${tenantId} failed: ${error instanceof Error ? error.message : String(error)}` });
        }
        // Never consented: the operator application could not have created anything there.
        found = { own: [], leftAlone: [] };
        notes.push(`The operator application has no service principal in tenant ${tenantId} (no administrator consented), so it cannot have created anything there.`);
      }
      const recorded = new Set(environments.map((e) => e.appObjectId.toLowerCase()));
      const keyVaultRecords = [...environments.map((e) => e.credential.secretName), ...(record ? [tenantSecretNameFor(tenantId)] : [])];
      notes.push(
        ...environments.map(
          (e) => `F&O ${e.environmentId} (${e.environmentUrl}) keeps its Email parameters, but once application ${e.appId} is deleted F&O can no longer send email through Graph with it: give it another provider or credential first.`,
        ),
        `The operator application's service principal stays in tenant ${tenantId} until an administrator of that tenant deletes it (Enterprise applications), which withdraws the consent.`,
        'Entra keeps deleted applications for 30 days (App registrations > Deleted applications).',
        "Key Vault keeps the removed records as deleted secrets for the vault's retention period (purge protection on); an environment id can be set up again only after its record is recovered (az keyvault secret recover) or that period has passed.",
      );
      const body = {
        tenantId,
        applications: found.own,
        environments: environments.map((e) => ({ environmentId: e.environmentId, environmentUrl: e.environmentUrl, secretName: e.credential.secretName, appId: e.appId, appObjectId: e.appObjectId })),
        keyVaultRecords,
        leftAlone: found.leftAlone,
        notes,
      };
      const confirmationToken = digest(body);
      const confirmUrl = `${new URL(request.url).origin}/api/tenants/${tenantId}?confirm=${confirmationToken}`;
      const report: TenantRemovalReport = { ...body, confirmationToken, confirmUrl };
      if (confirm === null) return json(200, report);
      if (confirm !== confirmationToken) {
        return problem({
          status: 409,
          title: 'Report changed',
          detail: `The confirmation token does not match what the product now finds in tenant ${tenantId} (something changed since the report, or the token is wrong): nothing was removed. Review this report and confirm it.`,
          report,
        });
      }
      const outcome = await startTenantRun(host, 'offboard', {
        tenantId,
        environments: body.environments.map((e) => ({ ...e, staleHolders: idle.stale.get(e.environmentId) ?? [] })),
        otherApplications: found.own.filter((a) => !recorded.has(a.objectId.toLowerCase())),
        ...(record ? { tenantRecord: tenantSecretNameFor(tenantId) } : {}),
      });
      if (!outcome.started) return tenantRunRefused(request, tenantId, outcome.running);
      context.info(`removal of tenant ${tenantId} started (instance ${outcome.instanceId})`);
      const statusUrl = statusUrlFor(request, outcome.instanceId);
      return json(202, { instanceId: outcome.instanceId, statusUrl, report }, { Location: statusUrl, 'Retry-After': '2' });
    } catch (error) {
      if (error instanceof BadRequest) return error.toResponse();
      throw error;
    }
  }

  return { listTenantsHttp, onboardTenantHttp, removeTenantHttp };
}
