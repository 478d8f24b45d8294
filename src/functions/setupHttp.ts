/**
 * `POST /api/environments/{environmentId}/setup`: validates the request at the edge and starts the
 * `setupEnvironment` orchestration under an instance id derived from the environment id, so a second
 * request while one runs gets 409 instead of a second run.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { DurableClient } from 'durable-functions';
import { assertAllowedEnvironmentUrl, isEnvironmentUrlNotAllowedError } from '../clients/hostAllowlist';
import type { AppConfig } from '../config';
import { environmentIdSchema, instanceIds } from '../contracts/environment';
import type { RunStarted } from '../contracts/operations';
import { setupRequestSchema, type SetupInput, type SetupRequest } from '../contracts/setup';
import { SETUP_ORCHESTRATION } from '../orchestrators/setupEnvironment';
import { BadRequest, json, parseWith, readJsonBody, statusUrlFor } from './http';
import { activeInstance, alreadyRunning } from './instances';

export function buildSetupInput(environmentId: string, environmentUrl: string, request: SetupRequest, config: AppConfig): SetupInput {
  const input: SetupInput = {
    environmentId,
    environmentUrl,
    tenantId: request.tenantId ?? config.tenantId,
    appDisplayName: request.appDisplayName ?? config.appDisplayNameTemplate.replace('{environmentId}', environmentId),
    secretLifetimeDays: request.secretLifetimeDays ?? config.secretLifetimeDays,
    consent: request.consent ?? config.consentStrategy,
    delivery: request.delivery ?? config.deliveryStrategy,
    waits: {
      consentTimeoutHours: config.consent.timeoutHours,
      consentPollMinutes: config.consent.pollMinutes,
      manualTimeoutHours: config.manualDelivery.timeoutHours,
      reminderHours: config.manualDelivery.reminderHours,
    },
    minRemainingDays: config.rotation.leadDays,
  };
  const sender = request.senderMailbox ?? config.senderMailbox;
  if (sender !== undefined) input.senderMailbox = sender;
  if (request.testRecipient !== undefined) input.testRecipient = request.testRecipient;
  if (config.dashboardUrl) input.dashboardUrl = config.dashboardUrl;
  if (request.mailboxScope) {
    const target = request.mailboxScope.groupOrMailboxes;
    input.mailboxScope = {
      ...(typeof target === 'string' ? { group: target.toLowerCase() } : { mailboxes: target.map((m) => m.toLowerCase()) }),
      ...(request.mailboxScope.outOfScopeTestMailbox ? { outOfScopeTestMailbox: request.mailboxScope.outOfScopeTestMailbox.toLowerCase() } : {}),
    };
  }
  return input;
}

export function createSetupHandler(getConfig: () => AppConfig) {
  return async function setupHttp(request: HttpRequest, client: DurableClient, context: InvocationContext): Promise<HttpResponseInit> {
    try {
      const environmentId = parseWith(environmentIdSchema, request.params.environmentId ?? '', 'environmentId');
      const body = parseWith(setupRequestSchema, await readJsonBody(request));
      const config = getConfig();
      let environmentUrl: string;
      try {
        environmentUrl = assertAllowedEnvironmentUrl(body.environmentUrl, config.finOps.allowedHosts, environmentId);
      } catch (error) {
        if (isEnvironmentUrlNotAllowedError(error)) throw new BadRequest(error.message, 'environmentUrl');
        throw error;
      }
      const input = buildSetupInput(environmentId, environmentUrl, body, config);

      const instanceId = instanceIds.setup(environmentId);
      const related = [instanceId, instanceIds.rotation(environmentId)];
      const running = await activeInstance(client, related);
      if (running) return alreadyRunning(request, environmentId, running);
      try {
        await client.startNew(SETUP_ORCHESTRATION, { instanceId, input });
      } catch (error) {
        // Another request won the race between the check and the start.
        const winner = await activeInstance(client, related);
        if (winner) return alreadyRunning(request, environmentId, winner);
        throw error;
      }
      context.info(`setup started for environment ${environmentId} (instance ${instanceId})`);
      const statusUrl = statusUrlFor(request, instanceId);
      return json(202, { instanceId, statusUrl } satisfies RunStarted, { Location: statusUrl, 'Retry-After': '2' });
    } catch (error) {
      if (error instanceof BadRequest) return error.toResponse();
      throw error;
    }
  };
}
