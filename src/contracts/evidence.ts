/**
 * F&O evidence: what shows that Finance and Operations really uses an environment's credential, and
 * the judgements runs make from it. Two independent sources: Entra's service principal sign-in log
 * (every client-credentials sign-in of the app, with the key id of the secret used and the error code
 * of a failure) and F&O itself (the batch email provider on the standard `EmailParameters` entity; with
 * the FnoGraphMail extension, the application id it holds and its email health).
 *
 * The judgements are pure functions of a reading, so orchestrators call them directly and tests check
 * them without a service. No runtime imports: the dashboard's browser script shows these shapes.
 *
 * Sources: the sign-in resource and its `servicePrincipalCredentialKeyId`, `status.errorCode`
 * (https://learn.microsoft.com/graph/api/resources/signin?view=graph-rest-beta); Entra's error codes
 * (https://learn.microsoft.com/entra/identity-platform/reference-error-codes).
 */

/** The batch email provider value that means Microsoft Graph (`MailerNonInteractive`). */
export const GRAPH_BATCH_PROVIDER = 'Graph';

/** Entra error codes a client-credentials sign-in of F&O fails with, as `status.errorCode` logs them. */
export const SIGN_IN_ERRORS = {
  /** AADSTS7000215: the secret is not one of the app's (a wrong value was entered). */
  invalidSecret: 7000215,
  /** AADSTS7000222: the secret has expired. */
  expiredSecret: 7000222,
  /** AADSTS7000229: the app has no service principal in the tenant. */
  missingServicePrincipal: 7000229,
  /** AADSTS700016: no such application in the tenant. */
  applicationNotFound: 700016,
} as const;

/** Why the sign-in log cannot be read: the identity lacks the permission, or the tenant the licence that keeps sign-in logs. */
export type EvidenceUnavailableReason = 'permission' | 'licence' | 'unsupported';

export const EVIDENCE_UNAVAILABLE_TEXT: Readonly<Record<EvidenceUnavailableReason, string>> = {
  permission: "the product's identity may not read sign-in logs (Microsoft Graph AuditLog.Read.All and Directory.Read.All, application permissions)",
  licence: 'the tenant keeps no sign-in logs readable through Microsoft Graph (it needs a Microsoft Entra ID P1 or P2 licence)',
  unsupported: "this cloud's Microsoft Graph does not serve service principal sign-in logs (beta API, global service only)",
};

/** Successful sign-ins with one credential (or a group of them) in the window read. */
export interface KeySignIns {
  successes: number;
  firstSuccessAt?: string;
  lastSuccessAt?: string;
}

/** The newest failed sign-in of the app in the window read. */
export interface SignInFailure {
  at: string;
  /** Entra's error code without the AADSTS prefix. */
  code: number;
  reason: string;
  /** The key the failure names, when Entra could tell (an expired secret); unknown secrets have none. */
  keyId?: string;
}

/** What the sign-in log shows of the app since `since`. */
export type SignInEvidence =
  | {
      access: 'available';
      /** The environment's current credential. */
      current: KeySignIns;
      /** The credentials it replaces (still live until revoked). */
      previous: KeySignIns;
      /** Credentials of the app that this environment's registry does not hold, with their newest success. */
      other: { keyIds: string[]; lastSuccessAt?: string };
      failures: { count: number; last?: SignInFailure };
      /** More sign-ins matched than the product reads in one go; the counts cover the newest ones. */
      truncated: boolean;
    }
  | { access: 'unavailable'; reason: EvidenceUnavailableReason; message: string }
  /** The read failed this time (throttled, an outage): neither evidence nor its absence. */
  | { access: 'failed'; message: string };

/** F&O's own email health (FnoGraphMail extension); no bodies, subjects or recipients. */
export interface FinOpsEmailHealthView {
  lastSuccessAt: string | null;
  lastSuccessProvider: string | null;
  failuresLast24Hours: number;
  lastFailureAt: string | null;
  lastFailureDetails: string | null;
}

/** What F&O itself shows. Each part is absent when it could not be read; `problems` says why. */
export interface FinOpsView {
  /** The batch email provider (`EmailParameters.MailerNonInteractive`). */
  provider?: string;
  /** The Graph application id the extension's credential entity holds (null: none entered). */
  applicationId?: string | null;
  health?: FinOpsEmailHealthView;
  /** Reads that failed, worded for a person. */
  problems: string[];
}

/** One reading of both sources, taken by the `readFinOpsEvidence` activity. */
export interface EvidenceReading {
  /** ISO time of the reading (the orchestration's clock). */
  asOf: string;
  /** ISO start of the window of sign-ins read. */
  since: string;
  signIns: SignInEvidence;
  finOps: FinOpsView;
}

/** What a run knows about F&O's extension (`describeFinOps`): it decides `auto` delivery and F&O's own checks. */
export interface FinOpsCapabilities {
  /** F&O answered its metadata; false when it could not be read (`reason` says why). */
  reachable: boolean;
  credentialEntity: boolean;
  sendTestEmail: boolean;
  emailHealth: boolean;
  reason?: string;
}

/**
 * The evidence kept with an environment (Key Vault tag `finops-evidence` on the current version). A new
 * credential starts without it: it is unproven until Entra shows F&O signing in with it.
 */
export interface FinOpsEvidence {
  /** ISO time of the last reading. */
  checkedAt: string;
  /** ISO time from which sign-ins with this credential are F&O's (its delivery; the product's own verification comes before). */
  since?: string;
  /** ISO time of the first successful sign-in with this credential after it was delivered. */
  provenAt?: string;
  /** ISO time of the newest successful sign-in with this credential seen. */
  lastSignInAt?: string;
  /** The newest failed sign-in seen and its Entra error code. */
  lastFailureAt?: string;
  lastFailureCode?: number;
  /** The batch email provider as last read. */
  provider?: string;
  /** Set while the sign-in log cannot be read. */
  unavailable?: EvidenceUnavailableReason;
}

// ---------------------------------------------------------------------------------------------------
// The tag: `k=v` pairs joined by `;` (Key Vault tag values hold at most 256 characters).

const TAG_KEYS = { checkedAt: 'c', since: 'd', provenAt: 'p', lastSignInAt: 's', lastFailureAt: 'f', lastFailureCode: 'e', provider: 'b', unavailable: 'u' } as const;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z$/;
const PROVIDER = /^[A-Za-z0-9]{1,20}$/;
const REASONS: readonly EvidenceUnavailableReason[] = ['permission', 'licence', 'unsupported'];

/** Seconds precision keeps the tag short. */
function isoSeconds(iso: string): string {
  return new Date(Date.parse(iso)).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function formatEvidenceTag(e: FinOpsEvidence): string {
  const parts = [`${TAG_KEYS.checkedAt}=${isoSeconds(e.checkedAt)}`];
  if (e.since) parts.push(`${TAG_KEYS.since}=${isoSeconds(e.since)}`);
  if (e.provenAt) parts.push(`${TAG_KEYS.provenAt}=${isoSeconds(e.provenAt)}`);
  if (e.lastSignInAt) parts.push(`${TAG_KEYS.lastSignInAt}=${isoSeconds(e.lastSignInAt)}`);
  if (e.lastFailureAt) parts.push(`${TAG_KEYS.lastFailureAt}=${isoSeconds(e.lastFailureAt)}`);
  if (e.lastFailureCode !== undefined && Number.isInteger(e.lastFailureCode)) parts.push(`${TAG_KEYS.lastFailureCode}=${e.lastFailureCode}`);
  if (e.provider && PROVIDER.test(e.provider)) parts.push(`${TAG_KEYS.provider}=${e.provider}`);
  if (e.unavailable) parts.push(`${TAG_KEYS.unavailable}=${e.unavailable}`);
  return parts.join(';');
}

/** The evidence in a tag, or undefined when the tag is absent or not the product's format (a person may edit tags). */
export function parseEvidenceTag(tag: string | undefined): FinOpsEvidence | undefined {
  if (!tag) return undefined;
  const values = new Map<string, string>();
  for (const part of tag.split(';')) {
    const at = part.indexOf('=');
    if (at <= 0) return undefined;
    values.set(part.slice(0, at), part.slice(at + 1));
  }
  const time = (key: string): string | undefined => {
    const v = values.get(key);
    return v !== undefined && ISO.test(v) && !Number.isNaN(Date.parse(v)) ? v : undefined;
  };
  const checkedAt = time(TAG_KEYS.checkedAt);
  if (!checkedAt) return undefined;
  const out: FinOpsEvidence = { checkedAt };
  const since = time(TAG_KEYS.since);
  if (since) out.since = since;
  const provenAt = time(TAG_KEYS.provenAt);
  if (provenAt) out.provenAt = provenAt;
  const lastSignInAt = time(TAG_KEYS.lastSignInAt);
  if (lastSignInAt) out.lastSignInAt = lastSignInAt;
  const lastFailureAt = time(TAG_KEYS.lastFailureAt);
  if (lastFailureAt) out.lastFailureAt = lastFailureAt;
  const code = values.get(TAG_KEYS.lastFailureCode);
  if (code !== undefined && /^\d{1,9}$/.test(code)) out.lastFailureCode = Number(code);
  const provider = values.get(TAG_KEYS.provider);
  if (provider !== undefined && PROVIDER.test(provider)) out.provider = provider;
  const unavailable = values.get(TAG_KEYS.unavailable);
  if (unavailable !== undefined && (REASONS as readonly string[]).includes(unavailable)) out.unavailable = unavailable as EvidenceUnavailableReason;
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Judgements

const later = (a: string | undefined, b: string | undefined): string | undefined =>
  a === undefined ? b : b === undefined ? a : Date.parse(a) >= Date.parse(b) ? a : b;

/**
 * The evidence to keep after a reading, carrying forward what earlier readings established. A success
 * with the credential proves F&O's use of it only from `proofSince` on (its delivery), as recorded.
 */
export function nextEvidence(previous: FinOpsEvidence | undefined, reading: EvidenceReading, proofSince?: string): FinOpsEvidence {
  const out = nextEvidenceExact(previous, reading, proofSince);
  // Kept at whole seconds, as the tag keeps it: the record a run returns is the record the registry shows.
  for (const key of ['checkedAt', 'since', 'provenAt', 'lastSignInAt', 'lastFailureAt'] as const) {
    const value = out[key];
    if (value !== undefined) out[key] = isoSeconds(value);
  }
  return out;
}

/** Whether two pieces of evidence show the same of F&O (when they were read, and from when, aside). */
export function sameFindings(a: FinOpsEvidence | undefined, b: FinOpsEvidence | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const keys = ['provenAt', 'lastSignInAt', 'lastFailureAt', 'lastFailureCode', 'provider', 'unavailable'] as const;
  return keys.every((k) => a[k] === b[k]);
}

function nextEvidenceExact(previous: FinOpsEvidence | undefined, reading: EvidenceReading, proofSince?: string): FinOpsEvidence {
  const out: FinOpsEvidence = { checkedAt: reading.asOf };
  const since = proofSince ?? previous?.since;
  if (since) out.since = since;
  proofSince = since;
  const s = reading.signIns;
  const provenBefore = previous?.provenAt;
  if (provenBefore) out.provenAt = provenBefore;
  const lastSignIn = later(previous?.lastSignInAt, s.access === 'available' ? s.current.lastSuccessAt : undefined);
  if (lastSignIn) out.lastSignInAt = lastSignIn;
  if (s.access === 'available') {
    const first = s.current.firstSuccessAt;
    if (!out.provenAt && first && (proofSince === undefined || Date.parse(first) >= Date.parse(proofSince))) out.provenAt = first;
    const failure = s.failures.last;
    if (failure && (!previous?.lastFailureAt || Date.parse(failure.at) >= Date.parse(previous.lastFailureAt))) {
      out.lastFailureAt = failure.at;
      out.lastFailureCode = failure.code;
    } else if (previous?.lastFailureAt) {
      out.lastFailureAt = previous.lastFailureAt;
      if (previous.lastFailureCode !== undefined) out.lastFailureCode = previous.lastFailureCode;
    }
  } else {
    if (previous?.lastFailureAt) out.lastFailureAt = previous.lastFailureAt;
    if (previous?.lastFailureCode !== undefined) out.lastFailureCode = previous.lastFailureCode;
    if (s.access === 'unavailable') out.unavailable = s.reason;
    else if (previous?.unavailable) out.unavailable = previous.unavailable;
  }
  const provider = reading.finOps.provider ?? previous?.provider;
  if (provider) out.provider = provider;
  return out;
}

/** How a failed sign-in reads for a person. */
export function describeFailure(failure: SignInFailure): string {
  const code = `AADSTS${failure.code}`;
  if (failure.code === SIGN_IN_ERRORS.invalidSecret) return `F&O signs in with a secret that does not match (${code} at ${failure.at})`;
  if (failure.code === SIGN_IN_ERRORS.expiredSecret) {
    return `F&O signs in with an expired secret${failure.keyId ? ` (credential ${failure.keyId})` : ''} (${code} at ${failure.at})`;
  }
  return `F&O's sign-in fails: ${code}${failure.reason ? ` ${failure.reason}` : ''} (at ${failure.at})`;
}

/** What F&O shows that rules out the credential being in use, whatever the sign-in log says. */
function finOpsContradictions(reading: EvidenceReading, appId: string): string[] {
  const out: string[] = [];
  const provider = reading.finOps.provider;
  if (provider !== undefined && provider !== GRAPH_BATCH_PROVIDER) out.push(`the batch email provider is still ${provider || 'not set'}, not Graph`);
  const held = reading.finOps.applicationId;
  if (held !== undefined && (held === null || held.toLowerCase() !== appId.toLowerCase())) {
    out.push(held === null ? 'F&O holds no Graph application id' : `F&O holds application ${held}, not ${appId}`);
  }
  return out;
}

export type Proof =
  /** Entra shows F&O signing in with the credential after its delivery. */
  | { state: 'proven'; at: string; detail: string }
  /** Not yet, or contradicted: `problems` says exactly what is wrong (or what is awaited). */
  | { state: 'waiting'; problems: string[] }
  /** The sign-in log cannot be read: F&O's own view is all there is (`problems` lists what it contradicts). */
  | { state: 'unprovable'; reason: EvidenceUnavailableReason; problems: string[] };

/**
 * Does the reading prove that F&O uses `keyId` since `since`? A success with the key settles it unless F&O
 * itself contradicts it (a provider other than Graph: the sign-in came from elsewhere, e.g. a test send).
 */
export function judgeProof(reading: EvidenceReading, expect: { appId: string; keyId: string }): Proof {
  const contradictions = finOpsContradictions(reading, expect.appId);
  const s = reading.signIns;
  if (s.access === 'unavailable') return { state: 'unprovable', reason: s.reason, problems: contradictions };
  if (s.access === 'failed') return { state: 'waiting', problems: [...contradictions, `the sign-in log could not be read: ${s.message}`] };
  const first = s.current.firstSuccessAt;
  if (first && contradictions.length === 0) {
    return { state: 'proven', at: first, detail: `Entra shows F&O signing in with credential ${expect.keyId} at ${first}` };
  }
  const problems = [...contradictions];
  const failure = s.failures.last;
  if (failure && (!s.current.lastSuccessAt || Date.parse(failure.at) > Date.parse(s.current.lastSuccessAt))) problems.push(describeFailure(failure));
  if (s.other.keyIds.length > 0) problems.push(`F&O signs in with credential ${s.other.keyIds.join(', ')}, which this environment does not hold`);
  if (s.previous.lastSuccessAt && !first) problems.push(`F&O still signs in with the previous credential (last at ${s.previous.lastSuccessAt})`);
  if (!first) problems.push(`no sign-in with credential ${expect.keyId} yet (F&O signs in when its email batch sends)`);
  return { state: 'waiting', problems };
}

export type Revocation =
  | { decision: 'revoke'; detail: string }
  | { decision: 'wait'; detail: string }
  /** The maximum passed: the previous credential stays and a person is told. */
  | { decision: 'keep'; detail: string };

/**
 * May the previous credentials go? Only once the grace minimum has passed and F&O has been seen signing in
 * with the new credential and not with a previous one since (a previous-key sign-in after the first
 * new-key one means some F&O server still holds the old secret). Without access to the sign-in log the
 * grace minimum alone decides, as it always has. At the maximum, the old credential is kept: an outage
 * is never the price of tidying up.
 */
export function judgeRevocation(reading: EvidenceReading, at: { nowMs: number; graceEndsMs: number; maxEndsMs: number }): Revocation {
  if (at.nowMs < at.graceEndsMs) return { decision: 'wait', detail: `grace period until ${new Date(at.graceEndsMs).toISOString()}` };
  const s = reading.signIns;
  if (s.access === 'unavailable') return { decision: 'revoke', detail: `grace period over; sign-in evidence unavailable (${s.reason})` };
  let waiting: string;
  if (s.access === 'failed') waiting = `the sign-in log could not be read: ${s.message}`;
  else {
    const first = s.current.firstSuccessAt;
    const oldLast = s.previous.lastSuccessAt;
    if (first && (!oldLast || Date.parse(oldLast) < Date.parse(first))) {
      return { decision: 'revoke', detail: `F&O signs in with the new credential since ${first}${oldLast ? `; last with the previous one at ${oldLast}` : ''}` };
    }
    waiting = !first
      ? 'F&O has not been seen signing in with the new credential'
      : `F&O still signs in with the previous credential (last at ${oldLast ?? '?'}, after the new one at ${first})`;
  }
  if (at.nowMs >= at.maxEndsMs) return { decision: 'keep', detail: `${waiting}; the previous credential stays` };
  return { decision: 'wait', detail: `${waiting}; waiting until ${new Date(at.maxEndsMs).toISOString()} at most` };
}

/**
 * F&O failure details that name the credential: Entra's codes for a wrong or expired secret, and the
 * decryption error F&O reports for a secret encrypted by another environment (documented for the SMTP
 * password after a database move: https://learn.microsoft.com/dynamics365/fin-ops-core/fin-ops/organization-administration/configure-email).
 */
const CREDENTIAL_FAILURE_DETAILS = /AADSTS7000215|AADSTS7000222|CryptoEncryptionException|Encryption error/i;

/** A drift check's F&O findings and whether re-delivering the environment's own credential repairs them. */
export interface FinOpsDrift {
  findings: string[];
  /** Re-delivering the current credential (and the provider) would put F&O right. */
  redeliver: boolean;
}

/**
 * What a drift check finds on the F&O side: the provider reset (a refresh script), another application
 * (a database copy), failing sign-ins (a wrong or expired secret), sign-ins with credentials the registry
 * does not hold, F&O's own send failures since the last check, and silence: no successful sign-in with
 * the current credential for longer than `silenceHours` while F&O should be sending (a secret F&O cannot
 * decrypt after a database copy produces no sign-in at all).
 */
export function judgeFinOpsDrift(
  reading: EvidenceReading,
  expect: {
    appId: string;
    keyId: string;
    lastCheckedAt?: string;
    lastSignInAt?: string;
    /** 0: silence is not a finding. */
    silenceHours: number;
    /** Since when the credential is in F&O (silence before that proves nothing). */
    deliveredSinceMs?: number;
  },
): FinOpsDrift {
  const findings = finOpsContradictions(reading, expect.appId);
  let redeliver = findings.length > 0;
  const s = reading.signIns;
  const since = expect.lastCheckedAt ? Date.parse(expect.lastCheckedAt) : Date.parse(reading.since);
  if (s.access === 'available') {
    const failure = s.failures.last;
    if (failure && Date.parse(failure.at) >= since && (!s.current.lastSuccessAt || Date.parse(failure.at) > Date.parse(s.current.lastSuccessAt))) {
      findings.push(describeFailure(failure));
      redeliver = true;
    }
    if (s.other.keyIds.length > 0) {
      findings.push(`F&O signs in with credential ${s.other.keyIds.join(', ')}, which this environment's registry does not hold`);
      redeliver = true;
    }
    const oldLast = s.previous.lastSuccessAt;
    if (oldLast && Date.parse(oldLast) >= since && (!s.current.lastSuccessAt || Date.parse(oldLast) > Date.parse(s.current.lastSuccessAt))) {
      findings.push(`F&O still signs in with a previous credential (last at ${oldLast}), not with ${expect.keyId}`);
      redeliver = true;
    }
    const lastSuccess = later(expect.lastSignInAt, s.current.lastSuccessAt);
    const now = Date.parse(reading.asOf);
    const silentFrom = Math.max(expect.deliveredSinceMs ?? 0, lastSuccess ? Date.parse(lastSuccess) : 0);
    const shouldSend = reading.finOps.provider === undefined || reading.finOps.provider === GRAPH_BATCH_PROVIDER;
    if (expect.silenceHours > 0 && shouldSend && now - silentFrom > expect.silenceHours * 3_600_000) {
      findings.push(
        lastSuccess
          ? `no successful sign-in by F&O with credential ${expect.keyId} since ${lastSuccess} (more than ${expect.silenceHours} hours)`
          : `no successful sign-in by F&O with credential ${expect.keyId} in the last ${expect.silenceHours} hours`,
      );
      redeliver = true;
    }
  }
  const health = reading.finOps.health;
  if (health?.lastFailureAt && Date.parse(health.lastFailureAt) >= since) {
    findings.push(
      `F&O's email history shows ${health.failuresLast24Hours} failed send(s) in the last 24 hours; the newest at ${health.lastFailureAt}: ${health.lastFailureDetails ?? 'no details'}`,
    );
    // A credential failure F&O reports itself: a wrong or expired secret, or one it cannot decrypt (a database copy).
    if (CREDENTIAL_FAILURE_DETAILS.test(health.lastFailureDetails ?? '')) redeliver = true;
  }
  return { findings, redeliver };
}
