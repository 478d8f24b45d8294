/**
 * Signing in as an environment's app with one of its client secrets — what F&O itself does — to prove
 * a credential before anything relies on it: an app-only Graph token and its `roles` claim, and a
 * message sent through Graph as the app. The secret stays inside the session: it is handed to
 * `@azure/identity` only and redacted from any error.
 */
import { ClientSecretCredential } from '@azure/identity';
import { graphEndpoint } from '../contracts/cloud';
import { EntraApplications, type MailMessage } from './entraApplications';
import { toServiceError } from './errors';

export interface ApplicationSession {
  /** Acquires an app-only Graph token and returns its `roles` claim. */
  roles(): Promise<string[]>;
  /** Sends a message through Graph as this app. */
  sendMail(message: MailMessage): Promise<void>;
}

export interface ApplicationSessionOptions {
  authorityHost: string;
  graphBaseUrl: string;
  /** Back-off between the SDKs' own retries (their counts and `Retry-After` handling stay theirs); SDK defaults when absent. */
  retry?: { azure: { retryDelayInMs?: number; maxRetryDelayInMs?: number }; graphDelaySeconds: number };
}

/** The `roles` claim of an access token (application permissions), without verifying it: it came straight from Entra. */
export function rolesOfAccessToken(accessToken: string): string[] {
  const payload = accessToken.split('.')[1];
  if (!payload) return [];
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { roles?: unknown };
    return Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : [];
  } catch {
    return [];
  }
}

export function signInAsApplication(
  input: { tenantId: string; appId: string; secret: string },
  options: ApplicationSessionOptions,
): ApplicationSession {
  const credential = new ClientSecretCredential(input.tenantId, input.appId, input.secret, {
    authorityHost: options.authorityHost,
    disableInstanceDiscovery: true,
    ...(options.retry ? { retryOptions: options.retry.azure } : {}),
  });
  const graph = graphEndpoint(options.graphBaseUrl);
  const ctx = { operation: 'Sign in with the new credential', service: 'entra' as const, freshSecret: true, redact: [input.secret] };
  let asApp: EntraApplications | undefined;
  return {
    async roles(): Promise<string[]> {
      try {
        const token = await credential.getToken(graph.scope);
        return rolesOfAccessToken(token.token);
      } catch (error) {
        throw toServiceError(error, ctx);
      }
    },
    async sendMail(message: MailMessage): Promise<void> {
      asApp ??= new EntraApplications(credential, {
        graphBaseUrl: options.graphBaseUrl,
        tenantId: input.tenantId,
        ...(options.retry ? { retry: { delaySeconds: options.retry.graphDelaySeconds } } : {}),
      });
      await asApp.sendMail(message);
    },
  };
}
