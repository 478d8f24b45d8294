/**
 * `GET /api/environments` and `GET /api/environments/{environmentId}`: the fleet as the registry
 * (Key Vault tags) records it, all of it or one tenant's (`?tenantId=`). Reads secret properties only,
 * never a value.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { now as clockNow } from '../clock';
import type { EnvironmentList, EnvironmentRecord } from '../contracts/environment';
import { environmentIdSchema, tenantIdSchema } from '../contracts/setup';
import { toEnvironmentRecord } from '../contracts/registry';
import { BadRequest, json, parseWith, problem } from './http';
import type { TriggerServices } from './rotationTriggers';

export function createEnvironmentsHandlers(services: () => TriggerServices) {
  return {
    /** `GET /api/environments[?tenantId=]`: every environment of the registry, or those of one tenant. */
    listEnvironmentsHttp: async (request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> => {
      try {
        const tenantQuery = request.query.get('tenantId');
        const tenantId = tenantQuery === null ? undefined : parseWith(tenantIdSchema, tenantQuery, 'tenantId');
        const { registry, config } = services();
        const now = clockNow();
        const environments: EnvironmentRecord[] = [];
        for await (const page of registry.pages()) {
          for (const entry of page) {
            const record = toEnvironmentRecord(entry, now, config.rotation.leadDays);
            if (record && (tenantId === undefined || record.tenantId.toLowerCase() === tenantId)) environments.push(record);
          }
        }
        environments.sort((a, b) => (a.environmentId < b.environmentId ? -1 : a.environmentId > b.environmentId ? 1 : 0));
        return json(200, { environments } satisfies EnvironmentList);
      } catch (error) {
        if (error instanceof BadRequest) return error.toResponse();
        throw error;
      }
    },

    getEnvironmentHttp: async (request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> => {
      try {
        const environmentId = parseWith(environmentIdSchema, request.params.environmentId ?? '', 'environmentId');
        const { registry, config } = services();
        const entry = await registry.entry(environmentId);
        const record = entry ? toEnvironmentRecord(entry, clockNow(), config.rotation.leadDays, environmentId) : undefined;
        if (!record) return problem({ status: 404, title: 'Unknown environment', detail: `No environment ${environmentId} is registered; run setup for it first.` });
        return json(200, record);
      } catch (error) {
        if (error instanceof BadRequest) return error.toResponse();
        throw error;
      }
    },
  };
}
