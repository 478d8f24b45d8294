/**
 * `POST /api/environments/{environmentId}/setup`: validates the request at the edge and starts the
 * environment's setup run (`setupEnvironment`, instance `setup-{environmentId}`); while any run of the
 * environment is active the answer is 409 naming it, and nothing starts. In partner mode a setup may name
 * a customer tenant once its onboarding recorded consent (read from the registry).
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { DurableClient } from 'durable-functions';
import type { AppConfig } from '../config';
import { checkEnvironmentUrl } from '../contracts/environmentUrl';
import { toTenantRecord, type FleetRegistry } from '../contracts/registry';
import { environmentIdSchema, setupRequestSchema } from '../contracts/setup';
import { BadRequest, json, parseWith, readJsonBody, statusUrlFor } from './http';
import { alreadyRunning } from './instances';
import { buildSetupInput, durableClientHost, RunInputError, startEnvironmentRun, type SetupTenant } from './runs';

/** Partner mode, a tenant other than the home tenant: whether its registry record says it is onboarded. */
async function setupTenant(tenantId: string | undefined, config: AppConfig, getRegistry: () => FleetRegistry): Promise<SetupTenant> {
  if (tenantId === undefined || tenantId === config.tenantId || !config.operatorClientId) return { onboarded: false };
  const entry = await getRegistry().tenantEntry(tenantId);
  return { onboarded: entry !== null && toTenantRecord(entry, tenantId)?.consent === 'granted' };
}

export function createSetupHandler(getConfig: () => AppConfig, getRegistry: () => FleetRegistry) {
  return async function setupHttp(request: HttpRequest, client: DurableClient, context: InvocationContext): Promise<HttpResponseInit> {
    try {
      const environmentId = parseWith(environmentIdSchema, request.params.environmentId ?? '', 'environmentId');
      const body = parseWith(setupRequestSchema, await readJsonBody(request));
      const config = getConfig();
      const url = checkEnvironmentUrl(body.environmentUrl, config.finOps.allowedHosts);
      if (!url.ok) throw new BadRequest(`Environment ${environmentId}: ${url.reason}. ${url.action}`, 'environmentUrl');
      let input;
      try {
        input = buildSetupInput(environmentId, url.origin, body, config, await setupTenant(body.tenantId, config, getRegistry));
      } catch (error) {
        if (error instanceof RunInputError) throw new BadRequest(error.detail, error.field);
        throw error;
      }
      const outcome = await startEnvironmentRun(durableClientHost(client), 'setup', input);
      if (!outcome.started) return alreadyRunning(request, environmentId, outcome.running);
      context.info(`setup started for environment ${environmentId} (instance ${outcome.instanceId})`);
      const statusUrl = statusUrlFor(request, outcome.instanceId);
      return json(202, { instanceId: outcome.instanceId, statusUrl }, { Location: statusUrl, 'Retry-After': '2' });
    } catch (error) {
      if (error instanceof BadRequest) return error.toResponse();
      throw error;
    }
  };
}
