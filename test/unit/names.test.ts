/**
 * Every name the product derives from an environment id is injective and reads back to the id it
 * came from: two environments never share an app registration, a Key Vault secret, a run or a lock.
 * The same for a customer tenant's record and runs (partner mode), which no environment's ever equals.
 * Shown over generated ids (fast-check) and on the pairs that collided before (`x--y` and the
 * folded name with a hash suffix).
 */
import fc from 'fast-check';
import { ENVIRONMENT_ID_PATTERN } from '../../src/contracts/environment';
import {
  environmentIdOfSecretName,
  environmentIdOfUniqueName,
  instanceIds,
  isProductInstanceId,
  mailboxScopeNameFor,
  OPERATOR_UNIQUE_NAME,
  runOfInstanceId,
  secretNameFor,
  tenantIdOfSecretName,
  tenantInstanceIds,
  tenantRunOfInstanceId,
  tenantSecretNameFor,
  uniqueNameFor,
} from '../../src/contracts/names';
import type { RunKind, TenantRunKind } from '../../src/contracts/operations';
import { isValidSecretName } from '../../src/clients/credentialVault';

/** Valid environment ids: the grammar's alphabet, hyphens runs included, 1–63 characters. */
const environmentId = fc
  .string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-'.split('')), minLength: 1, maxLength: 63 })
  .filter((id) => ENVIRONMENT_ID_PATTERN.test(id));

const KINDS: RunKind[] = ['setup', 'rotation', 'drift'];

/** Every name derived from one id, with the kind of name it is. */
function namesOf(id: string): Array<[string, string]> {
  return [
    ['uniqueName', uniqueNameFor(id)],
    ['secret', secretNameFor(id).toLowerCase()],
    ['scope', mailboxScopeNameFor(id)],
    ...KINDS.map((k): [string, string] => [`run:${k}`, instanceIds[k](id)]),
  ];
}

describe('names derived from environment ids', () => {
  it('are injective: two different ids never share a name of the same kind, secrets compared as Key Vault compares them', () => {
    fc.assert(
      fc.property(environmentId, environmentId, (a, b) => {
        fc.pre(a !== b);
        const left = namesOf(a);
        const right = namesOf(b);
        left.forEach(([kind, name], i) => expect([kind, name]).not.toEqual(right[i]));
      }),
      { numRuns: 2000 },
    );
  });

  it('stay apart for ids that differ only in runs of hyphens (what a folding name would merge)', () => {
    const hyphenated = environmentId.filter((id) => id.includes('-'));
    fc.assert(
      fc.property(hyphenated, fc.integer({ min: 2, max: 4 }), (a, n) => {
        const b = a.replace(/-+/, '-'.repeat(n));
        fc.pre(a !== b && ENVIRONMENT_ID_PATTERN.test(b));
        const right = namesOf(b);
        namesOf(a).forEach(([kind, name], i) => expect([kind, name]).not.toEqual(right[i]));
      }),
      { numRuns: 1000 },
    );
  });

  it('read back to the id they came from (so no two ids can share one)', () => {
    fc.assert(
      fc.property(environmentId, fc.constantFrom(...KINDS), (id, kind) => {
        expect(environmentIdOfSecretName(secretNameFor(id))).toBe(id);
        // Key Vault names are case-insensitive: an upper-case spelling names the same secret.
        expect(environmentIdOfSecretName(secretNameFor(id).toUpperCase())).toBe(id);
        expect(runOfInstanceId(instanceIds[kind](id))).toEqual({ kind, environmentId: id });
      }),
      { numRuns: 1000 },
    );
  });

  it('give run ids no two kinds can share', () => {
    fc.assert(
      fc.property(environmentId, environmentId, fc.constantFrom(...KINDS), fc.constantFrom(...KINDS), (a, b, k1, k2) => {
        fc.pre(k1 !== k2);
        expect(instanceIds[k1](a)).not.toBe(instanceIds[k2](b));
      }),
      { numRuns: 1000 },
    );
  });

  it('are valid Key Vault secret names', () => {
    fc.assert(
      fc.property(environmentId, (id) => {
        expect(isValidSecretName(secretNameFor(id))).toBe(true);
      }),
    );
  });

  it('keep apart the ids an earlier name-folding collided', () => {
    // The old scheme folded `x--y` to `x-y` plus a hash, a name the valid id `x-y-<hash>` also produced.
    expect(secretNameFor('x--y')).toBe('fno-graph-mail-x--y');
    expect(secretNameFor('x-y-5d1b3b56')).toBe('fno-graph-mail-x-y-5d1b3b56');
    expect(secretNameFor('x--y')).not.toBe(secretNameFor('x-y'));
  });

  it('are refused for anything that is not an environment id, rather than guessed', () => {
    for (const bad of ['', 'Contoso-UAT', 'contoso.uat', '-x', 'x'.repeat(64), 'ÿ-prod', 'a/b']) {
      expect(() => secretNameFor(bad)).toThrow(/is not an environment id/);
      expect(() => uniqueNameFor(bad)).toThrow(/is not an environment id/);
      expect(() => instanceIds.setup(bad)).toThrow(/is not an environment id/);
    }
    expect(environmentIdOfSecretName('payroll-smtp-password')).toBeUndefined();
    expect(environmentIdOfSecretName('fno-graph-mail-')).toBeUndefined();
    expect(runOfInstanceId('setup-')).toBeUndefined();
    expect(runOfInstanceId('purge-contoso')).toBeUndefined();
  });
});

/** Tenant ids: GUIDs in lower case, as the product keys them. */
const tenantId = fc.uuid().map((u) => u.toLowerCase());
const TENANT_KINDS: TenantRunKind[] = ['onboard', 'offboard'];

describe('names derived from tenant ids (partner mode)', () => {
  it('are injective and read back to the tenant they came from', () => {
    fc.assert(
      fc.property(tenantId, tenantId, fc.constantFrom(...TENANT_KINDS), (a, b, kind) => {
        expect(tenantIdOfSecretName(tenantSecretNameFor(a))).toBe(a);
        // Key Vault compares names case-insensitively.
        expect(tenantIdOfSecretName(tenantSecretNameFor(a).toUpperCase())).toBe(a);
        expect(tenantRunOfInstanceId(tenantInstanceIds[kind](a))).toEqual({ kind, tenantId: a });
        if (a !== b) {
          expect(tenantSecretNameFor(a).toLowerCase()).not.toBe(tenantSecretNameFor(b).toLowerCase());
          expect(tenantInstanceIds[kind](a)).not.toBe(tenantInstanceIds[kind](b));
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("never equal an environment's: a tenant's record is no environment's secret, its runs no environment's runs", () => {
    fc.assert(
      fc.property(tenantId, environmentId, fc.constantFrom(...TENANT_KINDS), fc.constantFrom(...KINDS), (t, e, tenantKind, kind) => {
        // Compared as Key Vault compares names: case-insensitively.
        expect(tenantSecretNameFor(t).toLowerCase()).not.toBe(secretNameFor(e).toLowerCase());
        expect(environmentIdOfSecretName(tenantSecretNameFor(t))).toBeUndefined();
        expect(tenantIdOfSecretName(secretNameFor(e))).toBeUndefined();
        expect(tenantInstanceIds[tenantKind](t)).not.toBe(instanceIds[kind](e));
        expect(runOfInstanceId(tenantInstanceIds[tenantKind](t))).toBeUndefined();
        expect(tenantRunOfInstanceId(instanceIds[kind](e))).toBeUndefined();
        expect(isProductInstanceId(tenantInstanceIds[tenantKind](t))).toBe(true);
        expect(isProductInstanceId(instanceIds[kind](e))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('are valid Key Vault secret names, and refuse anything that is not a lowercase GUID', () => {
    fc.assert(fc.property(tenantId, (t) => expect(isValidSecretName(tenantSecretNameFor(t))).toBe(true)));
    expect(tenantSecretNameFor('3f2c1d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f')).toBe('fno-graph-mail--tenant-3f2c1d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f');
    for (const bad of ['', 'contoso', '3F2C1D4E-5A6B-4C7D-8E9F-0A1B2C3D4E5F', '3f2c1d4e5a6b4c7d8e9f0a1b2c3d4e5f', '../x']) {
      expect(() => tenantSecretNameFor(bad)).toThrow(/is not a tenant id/);
      expect(() => tenantInstanceIds.onboard(bad)).toThrow(/is not a tenant id/);
    }
    expect(tenantRunOfInstanceId('onboard-contoso')).toBeUndefined();
    expect(isProductInstanceId('purge-3f2c1d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f')).toBe(false);
  });

  it("read an app registration's uniqueName back to its environment", () => {
    fc.assert(fc.property(environmentId, (e) => expect(environmentIdOfUniqueName(uniqueNameFor(e))).toBe(e)));
    // The operator application's uniqueName is no environment's.
    expect(OPERATOR_UNIQUE_NAME).toBe('fno-graph-mail--partner-operator');
    expect(environmentIdOfUniqueName(OPERATOR_UNIQUE_NAME)).toBeUndefined();
    fc.assert(fc.property(environmentId, (e) => expect(uniqueNameFor(e)).not.toBe(OPERATOR_UNIQUE_NAME)));
    expect(environmentIdOfUniqueName('payroll')).toBeUndefined();
  });
});
