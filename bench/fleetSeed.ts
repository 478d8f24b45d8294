/**
 * Seeds a fleet straight into the sandbox's state, as the product would have left it after setting
 * each environment up: one Key Vault secret per environment carrying the registry tags (the names from
 * src/contracts/wellKnown.ts), expiring on a spread of dates so that one environment in `dueEvery` is
 * within the rotation lead time. Environments that are due also get their app registration, service
 * principal, Mail.Send consent and live credential in the directory, so the rotations the sweep starts
 * can run to the end; the others are only ever read from Key Vault by the sweep.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { secretNameFor } from '../src/contracts/names';
import { uniqueNameFor } from '../src/contracts/names';
import {
  CLIENT_SECRET_CONTENT_TYPE,
  GRAPH_APP_ID,
  MAIL_SEND_ROLE_ID,
  MANAGED_BY_MARKER,
  SECRET_TAGS,
  USER_READ_SCOPE_ID,
  USER_READ_SCOPE_VALUE,
} from '../src/contracts/wellKnown';
import type { SandboxState } from '../sandbox/state';

const DAY = 86_400_000;

export interface SeedFleetOptions {
  count: number;
  /** Environment ids are `${idPrefix}${n}` (n zero-padded). */
  idPrefix: string;
  /** The F&O URL every seeded environment points at (one sandbox F&O server stands in for all). */
  environmentUrl: string;
  /** The product's ROTATION_LEAD_DAYS: credentials expiring within it are due. */
  leadDays: number;
  /** One environment in this many is due (100 → 1 %); 0 makes none due. */
  dueEvery: number;
}

export interface SeededFleet {
  environmentIds: string[];
  dueIds: string[];
}

export function seedFleet(state: SandboxState, options: SeedFleetOptions): SeededFleet {
  const now = state.now();
  const environmentIds: string[] = [];
  const dueIds: string[] = [];
  const width = String(options.count).length;
  for (let i = 0; i < options.count; i++) {
    const environmentId = `${options.idPrefix}${String(i).padStart(width, '0')}`;
    const due = options.dueEvery > 0 && i % options.dueEvery === 0;
    // Due: 1 to leadDays-1 days left. Not due: from leadDays+1 to leadDays+150 days left.
    const daysLeft = due ? 1 + ((i / options.dueEvery) % Math.max(1, options.leadDays - 1)) : options.leadDays + 1 + (i % 150);
    const expiresMs = Math.floor((now + daysLeft * DAY) / 1000) * 1000;
    const directory = due ? seedDirectoryObjects(state, environmentId, expiresMs) : undefined;
    const tags: Record<string, string> = {
      [SECRET_TAGS.managedBy]: MANAGED_BY_MARKER,
      [SECRET_TAGS.environmentId]: environmentId,
      [SECRET_TAGS.environmentUrl]: options.environmentUrl,
      [SECRET_TAGS.tenantId]: state.tenantId,
      [SECRET_TAGS.appId]: directory?.appId ?? randomUUID(),
      [SECRET_TAGS.appObjectId]: directory?.appObjectId ?? randomUUID(),
      [SECRET_TAGS.credentialKeyId]: directory?.keyId ?? randomUUID(),
      [SECRET_TAGS.operationId]: `seeded-${environmentId}`,
      [SECRET_TAGS.delivered]: 'true',
    };
    const created = Math.floor((now - 30 * DAY) / 1000);
    state.secrets.push({
      name: secretNameFor(environmentId),
      deletedDate: null,
      versions: [
        {
          version: randomBytes(16).toString('hex'),
          // Environments that are not due are never read by value; they need no usable credential.
          value: directory?.secretText ?? 'not-a-credential',
          contentType: CLIENT_SECRET_CONTENT_TYPE,
          tags,
          enabled: true,
          nbf: null,
          exp: expiresMs / 1000,
          created,
          updated: created,
        },
      ],
    });
    environmentIds.push(environmentId);
    if (due) dueIds.push(environmentId);
  }
  return { environmentIds, dueIds };
}

/** The app registration, service principal, consent and live credential setup would have created. */
function seedDirectoryObjects(state: SandboxState, environmentId: string, expiresMs: number) {
  const created = new Date(state.now() - 30 * DAY).toISOString();
  const owner = state.managedIdentity.servicePrincipalId;
  const { secretText, hint } = state.mintSecret();
  const keyId = randomUUID();
  const displayName = `F&O Graph mail (${environmentId})`;
  const app = {
    id: randomUUID(),
    appId: randomUUID(),
    uniqueName: uniqueNameFor(environmentId),
    displayName,
    signInAudience: 'AzureADMyOrg',
    description: null,
    notes: null,
    tags: [],
    requiredResourceAccess: [
      {
        resourceAppId: GRAPH_APP_ID,
        resourceAccess: [
          { id: MAIL_SEND_ROLE_ID, type: 'Role' as const },
          { id: USER_READ_SCOPE_ID, type: 'Scope' as const },
        ],
      },
    ],
    passwordCredentials: [
      {
        keyId,
        displayName: `${MANAGED_BY_MARKER} seeded-${environmentId}`,
        hint,
        customKeyIdentifier: null,
        startDateTime: created,
        endDateTime: new Date(expiresMs).toISOString(),
        secretText,
        usableFrom: 0,
      },
    ],
    owners: [owner],
    createdDateTime: created,
    visibleFrom: 0,
  };
  state.applications.push(app);
  const sp = {
    id: randomUUID(),
    appId: app.appId,
    displayName,
    servicePrincipalType: 'Application' as const,
    appRoles: [],
    oauth2PermissionScopes: [],
    createdDateTime: created,
    visibleFrom: 0,
    owners: [owner],
  };
  state.servicePrincipals.push(sp);
  state.appRoleAssignments.push({
    id: randomBytes(32).toString('base64url'),
    appRoleId: MAIL_SEND_ROLE_ID,
    principalId: sp.id,
    principalType: 'ServicePrincipal',
    principalDisplayName: displayName,
    resourceId: state.graphServicePrincipalId,
    resourceDisplayName: 'Microsoft Graph',
    createdDateTime: created,
    deletedDateTime: null,
  });
  state.oauth2PermissionGrants.push({
    id: randomBytes(32).toString('base64url'),
    clientId: sp.id,
    consentType: 'AllPrincipals',
    principalId: null,
    resourceId: state.graphServicePrincipalId,
    scope: USER_READ_SCOPE_VALUE,
  });
  return { appId: app.appId, appObjectId: app.id, keyId, secretText };
}
