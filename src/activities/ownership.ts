/**
 * Only the product's own applications: what makes an app registration the product's, checked before
 * any consent grant, password or change. An app is the product's when the product's identity owns it
 * and it is the environment's (its `uniqueName`, and the marker tag the product sets). Anyone in a tenant
 * may register apps by default, and `Application.ReadWrite.OwnedBy` reads every app
 * (https://learn.microsoft.com/graph/permissions-reference#applicationreadwriteownedby), so a name alone
 * proves nothing: an app someone registered under the environment's name first must never be adopted.
 *
 * Adopting an app no Key Vault version records (a first setup meeting an existing app, or one whose
 * record was lost) is stricter: the product's identity must be its only owner, the marker must name the
 * environment, and nobody else may be able to sign in as it (no certificates, federated credentials,
 * secrets on its service principal, or secrets the product did not create). Whoever registered it then
 * has given it up entirely.
 */
import { ServiceError } from '../clients/errors';
import type { Application, EntraApplications } from '../clients/entraApplications';
import { applicationMarkerTag, isProductCredentialName, uniqueNameFor } from '../contracts/names';

export type OwnershipMode = 'recorded' | 'adoption';

export interface Ownership {
  /** Why the app is not the product's; empty when it is. */
  problems: string[];
  /** Owners besides the product's identity (allowed on a recorded app, reported by the drift check). */
  otherOwners: string[];
}

export async function inspectOwnership(entra: EntraApplications, app: Application, environmentId: string, mode: OwnershipMode): Promise<Ownership> {
  const opts = { environmentId };
  const problems: string[] = [];
  if (app.uniqueName !== uniqueNameFor(environmentId)) problems.push(`its uniqueName is ${app.uniqueName ?? 'not set'}, not ${uniqueNameFor(environmentId)}`);
  const [owners, me] = await Promise.all([entra.listOwnerIds(app.objectId, opts), entra.callerObjectId()]);
  const otherOwners = owners.filter((o) => o !== me);
  if (!owners.includes(me)) {
    problems.push(`the product's identity is not among its owners (${owners.join(', ') || 'none'})`);
    return { problems, otherOwners };
  }
  if (mode === 'adoption') {
    if (otherOwners.length > 0) problems.push(`it has other owners (${otherOwners.join(', ')}), who can add credentials to it`);
    if (!app.tags.includes(applicationMarkerTag(environmentId))) problems.push(`it does not carry the product's tag ${applicationMarkerTag(environmentId)}`);
    if (app.keyCredentialIds.length > 0) problems.push(`it holds certificates (${app.keyCredentialIds.join(', ')})`);
    const foreign = app.passwordCredentials.filter((c) => !isProductCredentialName(c.displayName)).map((c) => c.keyId);
    if (foreign.length > 0) problems.push(`it holds client secrets the product did not create (${foreign.join(', ')})`);
    if (problems.length === 0) {
      const [federated, sp] = await Promise.all([entra.listFederatedCredentialIds(app.objectId, opts), entra.getServicePrincipal(app.appId, opts)]);
      if (federated.length > 0) problems.push(`it has federated identity credentials (${federated.join(', ')})`);
      if (sp && sp.credentialKeyIds.length > 0) problems.push(`its service principal holds credentials (${sp.credentialKeyIds.join(', ')})`);
    }
  }
  return { problems, otherOwners };
}

/** The refusal: names the app, says why, and what a person can do. Nothing was changed. */
export function foreignApplication(environmentId: string, app: Pick<Application, 'appId' | 'objectId'>, problems: readonly string[], mode: OwnershipMode): ServiceError {
  return new ServiceError({
    kind: 'permanent',
    service: 'graph',
    operation: mode === 'adoption' ? 'Check that the app registration is the product’s' : 'Check the app registration the registry names',
    environmentId,
    code: 'ForeignApplication',
    reason: `application ${app.appId} (object ${app.objectId}) is not the product's own for environment ${environmentId}: ${problems.join('; ')}. It was left untouched`,
    action:
      mode === 'adoption'
        ? `If you do not know this app, someone registered it under the environment's name: delete it in Entra ID (App registrations) and run setup again. If it is an earlier registration of this product, make the product's identity its only owner and remove every credential it holds, then run setup again.`
        : `Check the Key Vault secret of the environment (its app-id and app-object-id tags) and the app's owners; run setup again to register the environment's own app.`,
  });
}
