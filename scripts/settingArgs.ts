/**
 * What the deployment scripts share to read their settings: a flag, else the azd environment (azd hands
 * hooks its values as environment variables), checked with the product's own schemas (src/config.ts).
 */
import type { z } from 'zod';

export type Env = Record<string, string | undefined>;

/** The value trimmed, or undefined when absent or blank. */
export function nonEmpty(value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== '' ? value.trim() : undefined;
}

/** Validates one value with the product's schema for that setting; a refusal is added to `problems`. */
export function checkSetting<T>(schema: z.ZodType<T>, value: string, label: string, problems: string[]): T | undefined {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  problems.push(`${label} ${result.error.issues[0]?.message ?? 'is invalid'} (got "${value}")`);
  return undefined;
}

/**
 * An on/off environment setting: true, false, or undefined when unset. Anything else is a problem (a typo
 * must not grant a permission that was meant to be refused, nor refuse one meant to be granted).
 */
export function switchSetting(env: Env, name: string, problems: string[]): boolean | undefined {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return undefined;
  const lower = raw.toLowerCase();
  if (lower === 'true' || lower === 'false') return lower === 'true';
  problems.push(`${name} must be true or false (got "${raw}")`);
  return undefined;
}
