/**
 * Where the command line's app settings come from — environment variables, then a running sandbox's
 * endpoints (`sandboxAppSettings`), then a `local.settings.json`'s `Values` — parsed by the product's
 * own `loadConfig`, so the CLI accepts exactly what the function app accepts. A missing or unusable
 * source is a settings error (exit code 3), like a `ConfigError`.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { HOST_SETTING_NAMES, loadConfig, SETTING_NAMES, SETTINGS, type AppConfig } from '../../src/config';
import type { SandboxEndpoints } from '../../sandbox/server';

/** A settings source that cannot be read (exit code 3). */
export class SettingsSourceError extends Error {
  override name = 'SettingsSourceError';
}

export interface SandboxTarget {
  endpoints: SandboxEndpoints;
  /** The sandbox CA (PEM), trusted in-process. */
  caPem: string;
}

export interface ResolvedSettings {
  /** Every app setting, defaults filled in: applied as environment variables, as the Functions host does. */
  values: Record<string, string>;
  config: AppConfig;
  sandbox?: SandboxTarget;
}

const endpointsSchema = z.looseObject({
  tenantId: z.string(),
  authorityHost: z.string(),
  graphUrl: z.string(),
  keyVaultUrl: z.string(),
  caCertPath: z.string(),
  controlUrl: z.string(),
  operator: z.object({ clientId: z.string(), clientSecret: z.string() }),
  senderMailbox: z.string(),
  environments: z.array(z.object({ id: z.string(), url: z.string() })),
  managedIdentity: z.object({ identityEndpoint: z.string(), identityHeader: z.string(), clientId: z.string(), servicePrincipalId: z.string() }),
  keyVaultName: z.string(),
  eventGridTopic: z.string(),
  // Absent in endpoints files written before spare F&O listeners existed.
  finopsSparePorts: z.array(z.number().int()).default([]),
});

function readJson(file: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new SettingsSourceError(`Cannot read ${what} ${file}${code === 'ENOENT' ? ': no such file' : `: ${code ?? String(error)}`}.`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new SettingsSourceError(`${what} ${file} is not valid JSON.`);
  }
}

/** The endpoints a running sandbox wrote (`npm run sandbox` → .sandbox/endpoints.json) and its CA. */
export function readSandboxTarget(file: string): SandboxTarget {
  const parsed = endpointsSchema.safeParse(readJson(file, 'the sandbox endpoints file'));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SettingsSourceError(
      `${file} is not a sandbox endpoints file (${issue ? `${issue.path.join('.') || 'document'}: ${issue.message}` : 'unexpected shape'}); \`npm run sandbox\` writes one to .sandbox/endpoints.json.`,
    );
  }
  let caPem: string;
  try {
    caPem = readFileSync(parsed.data.caCertPath, 'utf8');
  } catch {
    throw new SettingsSourceError(`Cannot read the sandbox CA certificate ${parsed.data.caCertPath} named in ${file}.`);
  }
  return { endpoints: parsed.data, caPem };
}

/** The `Values` of a local.settings.json: strings only, as the Functions host reads them. */
export function readSettingsFile(file: string): Record<string, string> {
  const document = readJson(file, 'the settings file');
  const values = typeof document === 'object' && document !== null ? (document as { Values?: unknown }).Values : undefined;
  if (typeof values !== 'object' || values === null || Array.isArray(values)) {
    throw new SettingsSourceError(`${file} has no "Values" object (the shape of local.settings.json; see local.settings.sample.json).`);
  }
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) {
    if (typeof value !== 'string') throw new SettingsSourceError(`${file}: Values.${key} must be a string.`);
    result[key] = value;
  }
  return result;
}

export interface SettingsSources {
  env: Record<string, string | undefined>;
  sandbox?: SandboxTarget;
  /** App settings of the sandbox (`sandboxAppSettings(endpoints)`), when running against one. */
  sandboxSettings?: Record<string, string>;
  file?: Record<string, string>;
}

/**
 * Merges the sources (environment < sandbox < file) and parses them with `loadConfig`; throws its
 * `ConfigError` naming every missing or bad key.
 */
export function resolveSettings(sources: SettingsSources): ResolvedSettings {
  const values: Record<string, string> = {};
  for (const key of [...SETTING_NAMES, ...HOST_SETTING_NAMES]) {
    const value = sources.env[key];
    if (value !== undefined && value.trim() !== '') values[key] = value;
  }
  Object.assign(values, sources.sandboxSettings ?? {}, sources.file ?? {});
  const config = loadConfig(values);
  // The host resolves %SETTING% in bindings (the timer schedules) from the environment: give every setting a value.
  for (const key of SETTING_NAMES) {
    const fallback = SETTINGS[key].default;
    if ((values[key] === undefined || values[key].trim() === '') && fallback !== undefined) values[key] = fallback;
  }
  return { values, config, ...(sources.sandbox ? { sandbox: sources.sandbox } : {}) };
}
