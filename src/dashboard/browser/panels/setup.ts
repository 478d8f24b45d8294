/**
 * The start-setup panel: suggestions of known environment ids (filling in their URL), and the body of
 * `POST /api/environments/{environmentId}/setup` built from the form's fields.
 */
import type { SetupRequest } from '../../../contracts/setup';
import type { DashboardState } from '../model';
import { h, type View } from '../view';

/** The part of the setup request the form sets; the rest comes from the app's settings. */
export type SetupFormRequest = Pick<SetupRequest, 'environmentUrl' | 'consent' | 'delivery'>;

export interface SetupFormFields {
  environmentUrl: string;
  /** Empty: the setting's default. */
  consent: string;
  delivery: string;
}

export function knownEnvironmentOptions(state: DashboardState): View[] {
  return state.environments.map((env) => h('option', { attrs: { value: env.environmentId } }));
}

/** The registered URL of an environment id typed into the form, if the fleet knows it. */
export function knownEnvironmentUrl(state: DashboardState, environmentId: string): string | undefined {
  return state.environments.find((env) => env.environmentId === environmentId.trim())?.environmentUrl;
}

export function setupRequest(fields: SetupFormFields): SetupFormRequest {
  const body: SetupFormRequest = { environmentUrl: fields.environmentUrl.trim() };
  if (fields.consent === 'grant' || fields.consent === 'request') body.consent = fields.consent;
  if (fields.delivery === 'odata' || fields.delivery === 'manual') body.delivery = fields.delivery;
  return body;
}
