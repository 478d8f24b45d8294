/**
 * The allowlist check as the F&O client applies it: `checkEnvironmentUrl` (src/contracts/environmentUrl.ts)
 * before anything, token request included, is sent to an environment, failing with a typed error that
 * names the host and the setting to change.
 */
import { ALLOWED_HOSTS_SETTING, checkEnvironmentUrl, parseAllowedHosts } from '../contracts/environmentUrl';
import { ServiceError } from './errors';

export { ALLOWED_HOSTS_SETTING, parseAllowedHosts };

export class EnvironmentUrlNotAllowedError extends ServiceError {
  override name = 'EnvironmentUrlNotAllowedError';
  /** The URL as given (origin only: it cannot hold secrets once userinfo is refused). */
  readonly url: string;

  constructor(url: string, reason: string, action: string, environmentId?: string, operation = 'Check the environment URL') {
    super({
      kind: 'permanent',
      service: 'finops',
      operation,
      code: 'EnvironmentUrlNotAllowed',
      reason,
      action,
      ...(environmentId ? { environmentId } : {}),
    });
    this.url = url;
  }
}

export function isEnvironmentUrlNotAllowedError(e: unknown): e is EnvironmentUrlNotAllowedError {
  return e instanceof EnvironmentUrlNotAllowedError;
}

/**
 * Checks an environment URL against the allowlist and returns its normalized origin. Throws
 * `EnvironmentUrlNotAllowedError`; `operation` (what was about to be done) starts its message.
 */
export function assertAllowedEnvironmentUrl(url: string, allowedHosts: readonly string[], environmentId?: string, operation?: string): string {
  const check = checkEnvironmentUrl(url, allowedHosts);
  if (check.ok) return check.origin;
  throw new EnvironmentUrlNotAllowedError(check.shown, check.reason, check.action, environmentId, operation);
}
