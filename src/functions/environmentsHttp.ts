/**
 * `GET /api/environments` and `GET /api/environments/{environmentId}`: the fleet as the registry
 * (Key Vault tags) records it. Reads secret properties only, never a value.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { environmentIdSchema } from '../contracts/environment';
import { toEnvironmentRecord } from '../contracts/registry';
import type { EnvironmentList, EnvironmentRecord } from '../contracts/environment';
import type { ProductServices } from '../composition';
import { now as clockNow } from '../clock';
import { BadRequest, json, parseWith, problem } from './http';

export function createEnvironmentsHandlers(services: () => ProductServices) {
  return {
    listEnvironmentsHttp: async (_request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> => {
      const { vault, config } = services();
      const now = clockNow();
      const environments: EnvironmentRecord[] = [];
      for await (const page of vault.listManagedSecrets()) {
        for (const entry of page) {
          const record = toEnvironmentRecord(entry, now, config.rotation.leadDays);
          if (record) environments.push(record);
        }
      }
      environments.sort((a, b) => a.environmentId.localeCompare(b.environmentId));
      return json(200, { environments } satisfies EnvironmentList);
    },

    getEnvironmentHttp: async (request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> => {
      try {
        const environmentId = parseWith(environmentIdSchema, request.params.environmentId ?? '', 'environmentId');
        const { vault, config } = services();
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- the vault SDK loads on first use
        const { secretNameFor } = require('../clients/credentialVault') as typeof import('../clients/credentialVault');
        const entry = await vault.getSecretProperties(secretNameFor(environmentId), { environmentId });
        const record = entry ? toEnvironmentRecord(entry, clockNow(), config.rotation.leadDays) : undefined;
        if (!record) return problem({ status: 404, title: 'Unknown environment', detail: `No environment ${environmentId} is registered; run setup for it first.` });
        return json(200, record);
      } catch (error) {
        if (error instanceof BadRequest) return error.toResponse();
        throw error;
      }
    },
  };
}
