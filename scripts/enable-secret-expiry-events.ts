/**
 * Post-deploy step (azd `hooks.postdeploy`, both shells run `npm run --silent enable-secret-expiry-events`):
 * the first time the code is deployed, turns on the Event Grid subscription from the vault to the function
 * `secretExpiryEvents` and provisions once more.
 *
 * Event Grid validates an Azure Function destination when the subscription is created and refuses a
 * function the app does not list yet (https://learn.microsoft.com/azure/event-grid/handler-functions). Right
 * after a deployment a Flex Consumption app may still be starting or syncing its triggers, so that second
 * provision can fail for a minute or two although nothing is wrong: it is retried with a doubling wait. If
 * every attempt fails, the setting goes back to false, so the next `azd up` tries again after its deployment.
 * Any failure is retried (azd's exit code does not say which resource failed); a failure that is not about
 * the subscription costs the waits and then the same error.
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';

export const SETTING = 'SECRET_EXPIRY_EVENTS_ENABLED';

/**
 * Set (to `1`) in the environment of the `azd provision` this hook starts. azd runs hooks with its own process
 * environment plus the azd environment's values (cli/azd/pkg/exec/command_runner.go `appendEnv`, and
 * pkg/ext/hooks_runner.go, in https://github.com/Azure/azure-dev from 1.23.12 on), so the postprovision hook of
 * that nested provision sees it: scripts/grant-graph-permissions.ts then skips the Graph grant, which the
 * first provision of the same `azd up` has just run.
 */
export const SECOND_PROVISION_VARIABLE = 'FNO_GRAPH_MAIL_SECOND_PROVISION';

export interface RetryPolicy {
  /** Provisions tried in all. */
  attempts: number;
  /** Wait before the second attempt; each later wait doubles. */
  firstDelaySeconds: number;
}

/** Four provisions over about three and a half minutes of waiting (30 s, 60 s, 120 s). */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, firstDelaySeconds: 30 };

export interface HookDeps {
  /** Runs `azd <args>` and resolves with its exit code. */
  azd(args: string[]): Promise<number>;
  sleep(seconds: number): Promise<void>;
  log(line: string): void;
}

/** The waits between attempts, in seconds. */
export function backoffSeconds(policy: RetryPolicy): number[] {
  return Array.from({ length: Math.max(0, policy.attempts - 1) }, (_, i) => policy.firstDelaySeconds * 2 ** i);
}

/** Resolves with the hook's exit code. `current` is the azd environment's value of the setting. */
export async function enableSecretExpiryEvents(current: string | undefined, deps: HookDeps, policy: RetryPolicy = DEFAULT_RETRY): Promise<number> {
  if (current?.trim().toLowerCase() === 'true') return 0;
  deps.log('Subscribing the function secretExpiryEvents to the Key Vault expiry events (second provision)...');
  const set = await deps.azd(['env', 'set', SETTING, 'true']);
  if (set !== 0) {
    deps.log(`azd env set ${SETTING} true failed (exit code ${set}); nothing was provisioned.`);
    return set;
  }
  const waits = backoffSeconds(policy);
  let code = 1;
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    code = await deps.azd(['provision', '--no-prompt']);
    if (code === 0) {
      deps.log('Key Vault expiry events now reach the function secretExpiryEvents.');
      return 0;
    }
    const wait = waits[attempt - 1];
    if (wait === undefined) break;
    deps.log(
      `The second provision failed (exit code ${code}, attempt ${attempt} of ${policy.attempts}). Event Grid accepts the ` +
        `subscription only once the new deployment lists secretExpiryEvents; trying again in ${wait} s.`,
    );
    await deps.sleep(wait);
  }
  deps.log(
    `The second provision failed ${policy.attempts} times (last exit code ${code}). ${SETTING} is back to false, so the ` +
      `next \`azd up\` tries again; to try now: azd env set ${SETTING} true && azd provision`,
  );
  await deps.azd(['env', 'set', SETTING, 'false']);
  return code;
}

function runAzd(args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('azd', args, { stdio: 'inherit', env: { ...process.env, [SECOND_PROVISION_VARIABLE]: '1' } });
    child.once('error', (error) => {
      process.stderr.write(`could not run azd: ${error.message}\n`);
      resolve(127);
    });
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

if (require.main === module) {
  const { values } = parseArgs({ options: { attempts: { type: 'string' }, 'first-delay-seconds': { type: 'string' } } });
  const policy: RetryPolicy = {
    attempts: values.attempts !== undefined ? Number(values.attempts) : DEFAULT_RETRY.attempts,
    firstDelaySeconds: values['first-delay-seconds'] !== undefined ? Number(values['first-delay-seconds']) : DEFAULT_RETRY.firstDelaySeconds,
  };
  if (!Number.isInteger(policy.attempts) || policy.attempts < 1 || !Number.isFinite(policy.firstDelaySeconds) || policy.firstDelaySeconds < 0) {
    process.stderr.write('--attempts must be a whole number of at least 1 and --first-delay-seconds a number of at least 0\n');
    process.exit(2);
  }
  const deps: HookDeps = {
    azd: runAzd,
    sleep: (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000)),
    log: (line) => process.stdout.write(`${line}\n`),
  };
  enableSecretExpiryEvents(process.env[SETTING], deps, policy)
    .then((code) => process.exit(code))
    .catch((error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    });
}
