/**
 * All activities, built from their dependencies in one place. The function registrations wrap each
 * handler (logging, error envelope); tests call them directly with sandbox-backed clients.
 */
import type { ActivityInput, ActivityName, ActivityOutput } from '../contracts/activities';
import { createClientSecret } from './createClientSecret';
import { deliverToFinOps, recordDelivery } from './deliverToFinOps';
import type { ActivityDeps, ActivityHandler } from './deps';
import { ensureServicePrincipal } from './ensureServicePrincipal';
import { checkConsent, grantAdminConsent } from './grantAdminConsent';
import { notify } from './notify';
import { registerApplication } from './registerApplication';
import { verifyCredential } from './verifyCredential';
import { readEnvironment } from './readEnvironment';
import { revokePreviousCredentials } from './revokePreviousCredentials';
import { inspectEnvironment, removeOrphanedCredentials } from './inspectEnvironment';
import { prepareMailboxScope, verifyMailboxScope } from './mailboxScope';
import { describeFinOps, readFinOpsEvidence, recordFinOpsEvidence, sendFinOpsTestEmail } from './finOpsEvidence';
import { listFleetEnvironments } from './listFleetEnvironments';
import { checkTenantConsent, describeOperator, recordTenant, removeRegistryRecord, removeTenantApplication } from './tenants';

/** The activities built from the product's clients; those that start runs are the function app's (they need the durable client). */
export type ProductActivityName = Exclude<ActivityName, 'startRotations'>;
export type Activities = { [N in ProductActivityName]: ActivityHandler<ActivityInput<N>, ActivityOutput<N>> };

export function createActivities(deps: ActivityDeps): Activities {
  return {
    registerApplication: registerApplication(deps),
    ensureServicePrincipal: ensureServicePrincipal(deps),
    grantAdminConsent: grantAdminConsent(deps),
    checkConsent: checkConsent(deps),
    createClientSecret: createClientSecret(deps),
    deliverToFinOps: deliverToFinOps(deps),
    recordDelivery: recordDelivery(deps),
    listFleetEnvironments: listFleetEnvironments(deps),
    describeFinOps: describeFinOps(deps),
    readFinOpsEvidence: readFinOpsEvidence(deps),
    recordFinOpsEvidence: recordFinOpsEvidence(deps),
    sendFinOpsTestEmail: sendFinOpsTestEmail(deps),
    verifyCredential: verifyCredential(deps),
    notify: notify(deps),
    readEnvironment: readEnvironment(deps),
    revokePreviousCredentials: revokePreviousCredentials(deps),
    inspectEnvironment: inspectEnvironment(deps),
    removeOrphanedCredentials: removeOrphanedCredentials(deps),
    prepareMailboxScope: prepareMailboxScope(),
    verifyMailboxScope: verifyMailboxScope(deps),
    describeOperator: describeOperator(deps),
    checkTenantConsent: checkTenantConsent(deps),
    recordTenant: recordTenant(deps),
    removeTenantApplication: removeTenantApplication(deps),
    removeRegistryRecord: removeRegistryRecord(deps),
  };
}

export type { ActivityDeps, ActivityHandler, ActivityLogger, ApplicationSession } from './deps';
