/**
 * Emergency rotation's edge and its run-starting activity: `POST /api/fleet/rotate` `{tenantId?,
 * graceHours?}` starts the `rotateFleet` run (one at a time: 409 with the active one's status URL), and
 * the activity `startRotations` starts each environment's rotation through the one start path (an
 * environment with an active run is left to it). Thin: the pacing is the orchestration's.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { DurableClient } from 'durable-functions';
import { z } from 'zod';
import type { AppConfig } from '../config';
import type { StartRotationsInput, StartRotationsOutput } from '../contracts/activities';
import { DOCUMENTED_LIMITS, FLEET_ROTATION_ORCHESTRATION, type FleetRotationInput } from '../contracts/fleet';
import { fleetRotationInstanceId } from '../contracts/names';
import { isActiveRuntimeStatus } from '../contracts/operations';
import { forEachLimited } from './fleet';
import { BadRequest, json, parseWith, problem, readJsonBody, statusUrlFor } from './http';
import { buildRotationInput, durableClientHost, startEnvironmentRun } from './runs';

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

const requestSchema = z.strictObject({
  tenantId: z.string({ message: 'must be a string' }).regex(GUID, { message: 'must be a GUID' }).transform((s) => s.toLowerCase()).optional(),
  graceHours: z.number({ message: 'must be a number' }).int({ message: 'must be a whole number' }).min(0).max(720, { message: 'must be at most 720' }).optional(),
});

/** The product's share of each service limit: the rest stays for everything else in the vault and the tenants. */
export const FLEET_LIMIT_SHARE = 0.9;

export function createFleetRotation(config: () => AppConfig) {
  /** `POST /api/fleet/rotate` → 202 `{instanceId, statusUrl}`, 400 bad body, 409 one is already running. */
  async function fleetRotateHttp(request: HttpRequest, client: DurableClient, context: InvocationContext): Promise<HttpResponseInit> {
    try {
      const body = parseWith(requestSchema, (await readJsonBody(request)) ?? {});
      const settings = config();
      const instanceId = fleetRotationInstanceId(body.tenantId);
      const running = await durableClientHost(client).status(instanceId);
      if (running && isActiveRuntimeStatus(running.runtimeStatus)) {
        return problem({ status: 409, title: 'Already running', detail: `The emergency rotation ${instanceId} is still running.`, statusUrl: statusUrlFor(request, instanceId) });
      }
      const input: FleetRotationInput = {
        ...(body.tenantId !== undefined ? { tenantId: body.tenantId } : {}),
        graceHours: body.graceHours ?? settings.rotation.graceHours,
        limits: DOCUMENTED_LIMITS,
        share: FLEET_LIMIT_SHARE,
      };
      await client.startNew(FLEET_ROTATION_ORCHESTRATION, { instanceId, input });
      context.warn(`emergency rotation ${instanceId} started${body.tenantId ? ` for tenant ${body.tenantId}` : ' for the whole fleet'}`);
      const statusUrl = statusUrlFor(request, instanceId);
      return json(202, { instanceId, statusUrl }, { Location: statusUrl, 'Retry-After': '10' });
    } catch (error) {
      if (error instanceof BadRequest) return error.toResponse();
      throw error;
    }
  }

  /** Activity `startRotations`: each environment's rotation through the one start path. Repeating it starts nothing twice. */
  async function startRotations(input: StartRotationsInput, client: DurableClient): Promise<StartRotationsOutput> {
    const settings = config();
    const host = durableClientHost(client);
    const out: StartRotationsOutput = { started: [], alreadyRunning: [] };
    await forEachLimited(input.environmentIds, Math.max(settings.rotation.concurrency, 20), async (environmentId) => {
      const outcome = await startEnvironmentRun(host, 'rotation', { ...buildRotationInput(environmentId, input.reason, settings), graceHours: input.graceHours });
      (outcome.started ? out.started : out.alreadyRunning).push(environmentId);
    });
    return out;
  }

  return { fleetRotateHttp, startRotations };
}
