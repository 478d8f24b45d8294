/**
 * What a run does when the registry names an app registration that is gone or is not the product's:
 * nothing to it. A tag is not proof; readEnvironment checks the app in Graph, and this says the result in
 * the words of a step failure (the run fails and alerts, touching nothing).
 */
import type { RecordedApplication, StepFailure } from '../contracts/activities';
import type { EnvironmentRecord } from '../contracts/environment';

export function applicationProblem(env: EnvironmentRecord, application: RecordedApplication): StepFailure | undefined {
  if (application.state === 'own') return undefined;
  if (application.state === 'missing') {
    return {
      kind: 'not-found',
      service: 'graph',
      message: `the app registration of environment ${env.environmentId} (application ${env.appId}, object ${env.appObjectId}) no longer exists in Entra ID`,
      action: 'Run setup for the environment again: it registers a new app and gives F&O its credential.',
    };
  }
  return {
    kind: 'permanent',
    service: 'graph',
    code: 'ForeignApplication',
    message: `the registry names application ${env.appId} for environment ${env.environmentId}, but it is not the product's own: ${application.reasons.join('; ')}; nothing was done to it`,
    action: "Check the environment's Key Vault secret (its app-id and app-object-id tags) and the app's owners; run setup again to register the environment's own app.",
  };
}
