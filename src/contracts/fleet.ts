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
}

export const DOCUMENTED_LIMITS: ServiceLimits = {
  keyVaultCreatesPer10s: 300,
  keyVaultOthersPer10s: 4000,
  graphWritesPer150sPerTenant: 3000,
};

/**
 * The calls one rotation makes, from `npm run bench` (API economy, one rotation): one secret creation,
 * ten other Key Vault calls (reads, tag updates, the old version disabled; budgeted at twelve), and two
 * Graph writes (the new password, the old one's removal).
 */
export const CALLS_PER_ROTATION = { keyVaultCreates: 1, keyVaultOthers: 12, graphWrites: 2 } as const;

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

/** Rotations one wave may start: the most every limit allows in `WAVE_SECONDS`, per vault and per tenant. */
export function waveCapacity(limits: ServiceLimits, share: number): { total: number; perTenant: number } {
  const wave = WAVE_SECONDS / 10;
  const creates = Math.floor((limits.keyVaultCreatesPer10s * share * wave) / CALLS_PER_ROTATION.keyVaultCreates);
  const others = Math.floor((limits.keyVaultOthersPer10s * share * wave) / CALLS_PER_ROTATION.keyVaultOthers);
  const perTenant = Math.floor((limits.graphWritesPer150sPerTenant * share * (WAVE_SECONDS / 150)) / CALLS_PER_ROTATION.graphWrites);
  return { total: Math.max(1, Math.min(creates, others)), perTenant: Math.max(1, perTenant) };
}

/**
 * The next wave: up to the capacity, taking tenants in turn so one large tenant neither waits for
 * the others nor crowds them out. `queue` is ordered; returns the ids to start and the rest.
 */
export function nextWave(queue: readonly FleetEnvironment[], capacity: { total: number; perTenant: number }): { wave: FleetEnvironment[]; rest: FleetEnvironment[] } {
  const byTenant = new Map<string, FleetEnvironment[]>();
  for (const env of queue) {
    const list = byTenant.get(env.tenantId);
    if (list) list.push(env);
    else byTenant.set(env.tenantId, [env]);
  }
  const taken = new Map<string, number>();
  const wave: FleetEnvironment[] = [];
  let progress = true;
  while (wave.length < capacity.total && progress) {
    progress = false;
    for (const [tenantId, list] of byTenant) {
      if (wave.length >= capacity.total) break;
      const used = taken.get(tenantId) ?? 0;
      if (used >= capacity.perTenant || used >= list.length) continue;
      wave.push(list[used] as FleetEnvironment);
      taken.set(tenantId, used + 1);
      progress = true;
    }
  }
  const chosen = new Set(wave.map((e) => e.environmentId));
  return { wave, rest: queue.filter((e) => !chosen.has(e.environmentId)) };
}

/**
 * The time the limits allow for `environments` rotations across `tenants` (seconds): the slowest of the
 * vault's creations, the vault's other transactions, and the busiest tenant's Graph writes.
 */
export function limitBoundSeconds(environments: readonly FleetEnvironment[], limits: ServiceLimits): number {
  const perTenant = new Map<string, number>();
  for (const e of environments) perTenant.set(e.tenantId, (perTenant.get(e.tenantId) ?? 0) + 1);
  const busiest = Math.max(0, ...perTenant.values());
  const creates = (environments.length * CALLS_PER_ROTATION.keyVaultCreates * 10) / limits.keyVaultCreatesPer10s;
  const others = (environments.length * CALLS_PER_ROTATION.keyVaultOthers * 10) / limits.keyVaultOthersPer10s;
  const graph = (busiest * CALLS_PER_ROTATION.graphWrites * 150) / limits.graphWritesPer150sPerTenant;
  return Math.max(creates, others, graph);
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
