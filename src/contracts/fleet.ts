/**
 * Emergency rotation of the fleet (`POST /api/fleet/rotate`): every environment (or one tenant's) gets a
 * new credential now, started in waves paced within the services' documented limits, each rotation
 * under the usual rules (verify before deliver, proof, the previous credential kept until F&O uses the
 * new one). The pacing is a pure function of the plan, so the orchestration that applies it replays.
 *
 * Limits (per 10 s unless said):
 * - Key Vault: 300 secret creations per vault and 4,000 other transactions per vault
 *   (https://learn.microsoft.com/azure/key-vault/general/service-limits);
 * - Microsoft Graph identity and access: 3,000 writes per app per tenant per 150 s
 *   (https://learn.microsoft.com/graph/throttling-limits#identity-and-access-service-limits).
 */

export const FLEET_ROTATION_ORCHESTRATION = 'rotateFleet';

/** The service limits a wave must respect. */
export interface ServiceLimits {
  keyVaultCreatesPer10s: number;
  keyVaultOthersPer10s: number;
  graphWritesPer150sPerTenant: number;
  /**
   * Graph's identity and access reports (the sign-in log read as evidence of F&O's credential): requests
   * per 10 s per app per tenant. Absent in runs started before it was counted.
   */
  signInReadsPer10sPerTenant?: number;
}

export const DOCUMENTED_LIMITS: ServiceLimits = {
  keyVaultCreatesPer10s: 300,
  keyVaultOthersPer10s: 4000,
  graphWritesPer150sPerTenant: 3000,
  // https://learn.microsoft.com/graph/throttling-limits, "Identity and access reports service limits".
  signInReadsPer10sPerTenant: 5,
};

/**
 * The calls one rotation makes, from `npm run bench` (API economy, one rotation): one secret creation,
 * ten other Key Vault calls (reads, tag updates, the old version disabled; budgeted at twelve), two
 * Graph writes (the new password, the old one's removal), and at least two reads of the sign-in log
 * (F&O signs in with the new credential; then, before revoking, not with the old one). More reads come
 * when F&O is slow to switch: the client paces them (src/clients/signInLog.ts).
 */
export const CALLS_PER_ROTATION = { keyVaultCreates: 1, keyVaultOthers: 12, graphWrites: 2, signInReads: 2 } as const;

const signInReadLimit = (limits: ServiceLimits): number => limits.signInReadsPer10sPerTenant ?? 5;

/** Seconds between waves. */
export const WAVE_SECONDS = 10;

export interface FleetRotationInput {
  /** Only this tenant's environments; absent: the whole fleet. */
  tenantId?: string;
  /** Least hours each previous credential stays valid (the emergency may want 0). */
  graceHours: number;
  limits: ServiceLimits;
  /** The share of each limit the product allows itself (the rest is for everything else in the vault and tenant). */
  share: number;
}

export interface FleetEnvironment {
  environmentId: string;
  tenantId: string;
}

/**
 * Rotations one wave may start: the most every limit allows in `WAVE_SECONDS`, per vault and per tenant.
 * `perTenant` may be fractional (the sign-in log allows a few reads per tenant): `nextWave` carries the
 * fraction to the next wave.
 */
export function waveCapacity(limits: ServiceLimits, share: number): { total: number; perTenant: number } {
  const wave = WAVE_SECONDS / 10;
  const creates = Math.floor((limits.keyVaultCreatesPer10s * share * wave) / CALLS_PER_ROTATION.keyVaultCreates);
  const others = Math.floor((limits.keyVaultOthersPer10s * share * wave) / CALLS_PER_ROTATION.keyVaultOthers);
  const writes = (limits.graphWritesPer150sPerTenant * share * (WAVE_SECONDS / 150)) / CALLS_PER_ROTATION.graphWrites;
  const reads = (signInReadLimit(limits) * share * wave) / CALLS_PER_ROTATION.signInReads;
  return { total: Math.max(1, Math.min(creates, others)), perTenant: Math.max(0.01, Math.min(writes, reads)) };
}

/**
 * The next wave: up to the capacity, taking tenants in turn so one large tenant neither waits for
 * the others nor crowds them out. `queue` is ordered. A tenant's share of a wave is its capacity plus
 * what it could not use of the last one (`credit`, at most one rotation's worth); returns the
 * environments to start, the rest, and the credit to pass to the next wave.
 */
export function nextWave(
  queue: readonly FleetEnvironment[],
  capacity: { total: number; perTenant: number },
  credit: Readonly<Record<string, number>> = {},
): { wave: FleetEnvironment[]; rest: FleetEnvironment[]; credit: Record<string, number> } {
  const byTenant = new Map<string, FleetEnvironment[]>();
  for (const env of queue) {
    const list = byTenant.get(env.tenantId);
    if (list) list.push(env);
    else byTenant.set(env.tenantId, [env]);
  }
  const allowance = new Map<string, number>();
  for (const tenantId of byTenant.keys()) allowance.set(tenantId, (credit[tenantId] ?? 0) + capacity.perTenant);
  const taken = new Map<string, number>();
  const wave: FleetEnvironment[] = [];
  let progress = true;
  while (wave.length < capacity.total && progress) {
    progress = false;
    for (const [tenantId, list] of byTenant) {
      if (wave.length >= capacity.total) break;
      const used = taken.get(tenantId) ?? 0;
      if (used + 1 > (allowance.get(tenantId) ?? 0) || used >= list.length) continue;
      wave.push(list[used] as FleetEnvironment);
      taken.set(tenantId, used + 1);
      progress = true;
    }
  }
  const chosen = new Set(wave.map((e) => e.environmentId));
  const rest = queue.filter((e) => !chosen.has(e.environmentId));
  const next: Record<string, number> = {};
  for (const [tenantId, list] of byTenant) {
    const used = taken.get(tenantId) ?? 0;
    if (used < list.length) next[tenantId] = Math.min(1, (allowance.get(tenantId) ?? 0) - used);
  }
  return { wave, rest, credit: next };
}

/**
 * The time the limits allow for `environments` rotations across `tenants` (seconds): the slowest of the
 * vault's creations, the vault's other transactions, and the busiest tenant's Graph writes and sign-in
 * log reads.
 */
export function limitBoundSeconds(environments: readonly FleetEnvironment[], limits: ServiceLimits): number {
  const perTenant = new Map<string, number>();
  for (const e of environments) perTenant.set(e.tenantId, (perTenant.get(e.tenantId) ?? 0) + 1);
  const busiest = Math.max(0, ...perTenant.values());
  const creates = (environments.length * CALLS_PER_ROTATION.keyVaultCreates * 10) / limits.keyVaultCreatesPer10s;
  const others = (environments.length * CALLS_PER_ROTATION.keyVaultOthers * 10) / limits.keyVaultOthersPer10s;
  const graph = (busiest * CALLS_PER_ROTATION.graphWrites * 150) / limits.graphWritesPer150sPerTenant;
  const signIns = (busiest * CALLS_PER_ROTATION.signInReads * 10) / signInReadLimit(limits);
  return Math.max(creates, others, graph, signIns);
}

/** The fleet run's custom status: counts only (the status is limited to 16 KB). */
export interface FleetRotationStatus {
  total: number;
  started: number;
  /** Environments that already had a run (it finishes first; rotate them again later if needed). */
  alreadyRunning: number;
  remaining: number;
  waves: number;
  perWave: number;
  /** Seconds the documented limits allow for the whole fleet. */
  limitBoundSeconds: number;
}

/** The fleet run's output. */
export interface FleetRotationReport extends FleetRotationStatus {
  /** Environment ids that already had an active run when their wave came. */
  skipped: string[];
}
