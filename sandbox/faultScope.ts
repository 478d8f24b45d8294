/**
 * Which object a request concerns, so an injected fault can be aimed at one environment while others
 * run at the same time (`concerning` on `POST /faults`). A subject is named the way each service
 * knows it: an app registration's `uniqueName` (Graph calls about the app, its service principal or
 * its consent, a delegated grant addressed by its own id included; Entra token requests the app makes),
 * a Key Vault secret name, or an F&O environment id
 * (requests to that environment, and managed-identity tokens for its URL). Tenant-wide requests
 * (Graph's own service principal, OpenID metadata) concern no subject.
 */
import type { SandboxState } from './state';
import type { SandboxRequest } from './types';

const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/** The subjects a request concerns, lower-cased: compare with a `concerning` lower-cased. */
export function requestSubjects(state: SandboxState, req: SandboxRequest): Set<string> {
  return new Set(subjectsOf(state, req).map((s) => s.toLowerCase()));
}

function subjectsOf(state: SandboxState, req: SandboxRequest): string[] {
  switch (req.service) {
    case 'finops':
      return req.environmentId !== undefined ? [req.environmentId] : [];
    case 'keyvault': {
      const name = /^\/(?:deleted)?secrets\/([^/]+)/i.exec(req.path)?.[1];
      return name !== undefined ? [name] : [];
    }
    case 'graph': {
      const named = [...req.path.matchAll(/uniqueName='([^']*)'/gi)].map((m) => m[1] ?? '');
      // A grant's id is no GUID (it is base64url): the grant names its client's service principal.
      const grantId = /\/oauth2PermissionGrants\/([^/]+)$/.exec(req.path)?.[1];
      const grant = grantId === undefined ? undefined : state.tenants.flatMap((t) => t.oauth2PermissionGrants).find((g) => g.id === grantId);
      const text = `${req.path} ${req.query.toString()} ${req.body.toString('utf8')} ${grant?.clientId ?? ''}`;
      return [...named, ...applicationsReferencedBy(state, text)];
    }
    case 'entra': {
      if (req.path === '/msi/token') {
        const resource = (req.query.get('resource') ?? '').replace(/\/(\.default)?$/, '');
        return state.finops.filter((e) => e.url !== '' && e.url === resource).map((e) => e.id);
      }
      const clientId = new URLSearchParams(req.body.toString('utf8')).get('client_id');
      return clientId ? applicationsReferencedBy(state, clientId) : [];
    }
  }
}

/**
 * Unique names of the applications whose object id or app id, or whose service principal's id, occurs
 * in `text`, in any tenant (a multi-tenant app's service principals live outside its home).
 */
function applicationsReferencedBy(state: SandboxState, text: string): string[] {
  const out: string[] = [];
  const servicePrincipals = state.tenants.flatMap((t) => t.servicePrincipals);
  const applications = state.tenants.flatMap((t) => t.applications);
  for (const id of new Set((text.match(GUID) ?? []).map((g) => g.toLowerCase()))) {
    const sp = servicePrincipals.find((s) => s.id.toLowerCase() === id);
    const app = applications.find((a) => a.id.toLowerCase() === id || a.appId.toLowerCase() === id || (sp !== undefined && a.appId === sp.appId));
    if (app?.uniqueName) out.push(app.uniqueName);
  }
  return out;
}
