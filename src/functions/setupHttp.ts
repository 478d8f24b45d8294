/**
 * `POST /api/environments/{environmentId}/setup`: validates the request at the edge and starts the
 * environment's setup run (`setupEnvironment`, instance `setup-{environmentId}`); while any run of the
 * environment is active the answer is 409 naming it, and nothing starts.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { DurableClient } from 'durable-functions';
import type { AppConfig } from '../config';
import { checkEnvironmentUrl } from '../contracts/environmentUrl';
import { environmentIdSchema, setupRequestSchema } from '../contracts/setup';
import { BadRequest, json, parseWith, readJsonBody, statusUrlFor } from './http';
import { alreadyRunning } from './instances';
import { buildSetupInput, durableClientHost, RunInputError, startEnvironmentRun } from './runs';

export function createSetupHandler(getConfig: () => AppConfig) {
  return async function setupHttp(request: HttpRequest, client: DurableClient, context: InvocationContext): Promise<HttpResponseInit> {
    try {
      const environmentId = parseWith(environmentIdSchema, request.params.environmentId ?? '', 'environmentId');
      const body = parseWith(setupRequestSchema, await readJsonBody(request));
      const config = getConfig();
      const url = checkEnvironmentUrl(body.environmentUrl, config.finOps.allowedHosts);
      if (!url.ok) throw new BadRequest(`Environment ${environmentId}: ${url.reason}. ${url.action}`, 'environmentUrl');
      let input;
      try {
        input = buildSetupInput(environmentId, url.origin, body, config);
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
