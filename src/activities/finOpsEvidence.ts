/**
 * Activities that look at F&O's use of a credential: `describeFinOps` (what its metadata shows of the
 * FnoGraphMail extension), `readFinOpsEvidence` (Entra's sign-in log of the app, sorted by the
 * environment's credentials, and F&O's own view: provider, the application id it holds, its email
 * health), `recordFinOpsEvidence` (the `finops-evidence` tag) and `sendFinOpsTestEmail` (F&O sends one
 * message itself). All read-only towards Entra and F&O except the test send; none sees a secret.
 */
import { isServiceError } from '../clients/errors';
import type {
  DescribeFinOpsInput,
  DescribeFinOpsOutput,
  ReadFinOpsEvidenceInput,
  ReadFinOpsEvidenceOutput,
  RecordFinOpsEvidenceInput,
  RecordFinOpsEvidenceOutput,
  SendFinOpsTestEmailInput,
  SendFinOpsTestEmailOutput,
} from '../contracts/activities';
import { formatEvidenceTag, type FinOpsView, type KeySignIns, type SignInEvidence } from '../contracts/evidence';
import { SECRET_TAGS } from '../contracts/wellKnown';
import type { ServicePrincipalSignIn } from '../clients/signInLog';
import type { ActivityDeps, ActivityHandler } from './deps';

export function describeFinOps(deps: ActivityDeps): ActivityHandler<DescribeFinOpsInput, DescribeFinOpsOutput> {
  return async (input) => {
    try {
      const found = await deps.finOps(input.tenantId).describeExtension(input.environmentUrl, { environmentId: input.environmentId });
      return { reachable: true, ...found };
    } catch (error) {
      // An F&O the product may not read (not registered, not allowed, refusing) offers nothing; `auto` then
      // falls back to instructions. An outage is thrown, so the retry preset rides it out.
      if (isServiceError(error) && !error.retryable) {
        return { reachable: false, credentialEntity: false, sendTestEmail: false, emailHealth: false, reason: error.message };
      }
      throw error;
    }
  };
}

export function readFinOpsEvidence(deps: ActivityDeps): ActivityHandler<ReadFinOpsEvidenceInput, ReadFinOpsEvidenceOutput> {
  return async (input) => {
    const [signIns, finOps] = await Promise.all([readSignIns(deps, input), readFinOps(deps, input)]);
    return { asOf: input.asOf, since: input.since, signIns, finOps };
  };
}

async function readSignIns(deps: ActivityDeps, input: ReadFinOpsEvidenceInput): Promise<SignInEvidence> {
  const opts = { environmentId: input.environmentId };
  const current = input.keyId.toLowerCase();
  let answer;
  const previous = new Set<string>();
  try {
    answer = await deps.signIns(input.tenantId).servicePrincipalSignIns(input.appId, new Date(input.since), opts);
    // Only sign-ins with another key need the vault: are they a previous credential, or one nobody recorded?
    if (answer.available && answer.signIns.some((s) => s.errorCode === 0 && s.keyId !== null && s.keyId !== current)) {
      for (const v of await deps.vault.listVersions(input.secretName, opts)) {
        const keyId = (v.tags[SECRET_TAGS.credentialKeyId] ?? '').toLowerCase();
        if (v.enabled && keyId !== '' && keyId !== current) previous.add(keyId);
      }
    }
  } catch (error) {
    return { access: 'failed', message: error instanceof Error ? error.message : String(error) };
  }
  if (!answer.available) return { access: 'unavailable', reason: answer.reason, message: answer.message };
  const mine: ServicePrincipalSignIn[] = [];
  const old: ServicePrincipalSignIn[] = [];
  const other = new Map<string, string>();
  const failures: ServicePrincipalSignIn[] = [];
  for (const s of answer.signIns) {
    if (s.errorCode !== 0) failures.push(s);
    else if (s.keyId === current) mine.push(s);
    else if (s.keyId !== null && previous.has(s.keyId)) old.push(s);
    else if (s.keyId !== null) {
      const seen = other.get(s.keyId);
      if (seen === undefined || Date.parse(s.at) > Date.parse(seen)) other.set(s.keyId, s.at);
    }
  }
  const newestOther = [...other.values()].sort((a, b) => Date.parse(b) - Date.parse(a))[0];
  const lastFailure = newest(failures);
  return {
    access: 'available',
    current: summary(mine),
    previous: summary(old),
    other: { keyIds: [...other.keys()].sort(), ...(newestOther ? { lastSuccessAt: newestOther } : {}) },
    failures: {
      count: failures.length,
      ...(lastFailure
        ? {
            last: {
              at: lastFailure.at,
              code: lastFailure.errorCode,
              reason: lastFailure.failureReason ?? '',
              ...(lastFailure.keyId ? { keyId: lastFailure.keyId } : {}),
            },
          }
        : {}),
    },
    truncated: answer.truncated,
  };
}

function newest(list: ServicePrincipalSignIn[]): ServicePrincipalSignIn | undefined {
  let best: ServicePrincipalSignIn | undefined;
  for (const s of list) if (!best || Date.parse(s.at) > Date.parse(best.at)) best = s;
  return best;
}

function summary(list: ServicePrincipalSignIn[]): KeySignIns {
  if (list.length === 0) return { successes: 0 };
  let first = list[0]!.at;
  let last = first;
  for (const s of list) {
    if (Date.parse(s.at) < Date.parse(first)) first = s.at;
    if (Date.parse(s.at) > Date.parse(last)) last = s.at;
  }
  return { successes: list.length, firstSuccessAt: first, lastSuccessAt: last };
}

/** F&O's own view, each part on its own: one that cannot be read leaves the others standing. */
async function readFinOps(deps: ActivityDeps, input: ReadFinOpsEvidenceInput): Promise<FinOpsView> {
  const opts = { environmentId: input.environmentId };
  const url = input.environmentUrl;
  const finOps = deps.finOps(input.tenantId);
  const view: FinOpsView = { problems: [] };
  const note = (what: string, error: unknown): void => {
    view.problems.push(`${what} could not be read: ${error instanceof Error ? error.message : String(error)}`);
  };
  const tasks: Array<Promise<void>> = [];
  // The email parameters record gives the provider and, unless a key is configured, the key of the
  // credential record: one read for both, and its failure is both parts' failure.
  const parameters = input.read.provider ? finOps.getEmailParameters(url, opts) : undefined;
  if (parameters) {
    tasks.push(
      parameters.then(
        (p) => {
          view.provider = p.batchEmailProvider;
        },
        (e: unknown) => note("F&O's batch email provider", e),
      ),
    );
  }
  if (input.read.credential) {
    tasks.push(
      finOps.getGraphCredential(url, { ...opts, ...(parameters ? { emailParameters: parameters } : {}) }).then(
        (c) => {
          view.applicationId = c.applicationId;
        },
        // Without the extension there is no credential entity: nothing to read, nothing wrong.
        (e: unknown) => (isServiceError(e) && e.kind === 'not-found' ? undefined : note("the application id F&O holds", e)),
      ),
    );
  }
  if (input.read.health) {
    tasks.push(
      finOps.getEmailHealth(url, opts).then(
        (h) => {
          view.health = {
            lastSuccessAt: h.lastSuccessAt,
            lastSuccessProvider: h.lastSuccessProvider,
            failuresLast24Hours: h.failuresLast24Hours,
            lastFailureAt: h.lastFailureAt,
            lastFailureDetails: h.lastFailureDetails,
          };
        },
        (e: unknown) => (isServiceError(e) && e.kind === 'not-found' ? undefined : note("F&O's email health", e)),
      ),
    );
  }
  await Promise.all(tasks);
  return view;
}

export function recordFinOpsEvidence(deps: ActivityDeps): ActivityHandler<RecordFinOpsEvidenceInput, RecordFinOpsEvidenceOutput> {
  return async (input) => {
    return deps.vault.updateVersionTags(
      input.reference.secretName,
      input.reference.secretVersion,
      { [SECRET_TAGS.finOpsEvidence]: formatEvidenceTag(input.evidence) },
      { environmentId: input.environmentId },
    );
  };
}

export function sendFinOpsTestEmail(deps: ActivityDeps): ActivityHandler<SendFinOpsTestEmailInput, SendFinOpsTestEmailOutput> {
  return async (input, log) => {
    const result = await deps.finOps(input.tenantId).sendTestEmail(input.environmentUrl, input.recipient, { environmentId: input.environmentId });
    log.info(`F&O environment ${input.environmentId} test send: ${result.status}`);
    return { status: result.status, message: result.message };
  };
}
