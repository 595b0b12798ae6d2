import { DomainError, parseOrganisationSyncSettings } from '@app/common';
import { ownValue, readOrganisationClaims, readRole } from './organisation-sync.settings.js';

function failure(fn: () => unknown): DomainError {
  try {
    fn();
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error('expected a DomainError');
}

describe('parseOrganisationSyncSettings', () => {
  it('should return the disabled defaults when IdentityHandlerConfig or OrganisationSync is absent', () => {
    const defaults = {
      enabled: false,
      idClaim: 'organization_id',
      nameClaim: 'organization_name',
      teamMapping: {},
      roleClaim: null,
      roleMapping: {},
      defaultRole: null,
    };
    expect(parseOrganisationSyncSettings(null)).toEqual(defaults);
    expect(parseOrganisationSyncSettings({ DashboardCredential: 'x' })).toEqual(defaults);
    expect(parseOrganisationSyncSettings({ OrganisationSync: null })).toEqual(defaults);
  });

  it('should read every field', () => {
    expect(
      parseOrganisationSyncSettings({
        OrganisationSync: {
          Enabled: true,
          IdClaim: 'org_id',
          NameClaim: 'org_name',
          TeamMapping: { 'ce-org-1': '9', 'ce-org-2': 11 },
        },
      }),
    ).toEqual({
      enabled: true,
      idClaim: 'org_id',
      nameClaim: 'org_name',
      teamMapping: { 'ce-org-1': '9', 'ce-org-2': '11' },
      roleClaim: null,
      roleMapping: {},
      defaultRole: null,
    });
  });

  it('should match keys in any case and accept the American spelling', () => {
    expect(
      parseOrganisationSyncSettings({ organisationsync: { enabled: true, idclaim: 'o', teammapping: { a: '1' } } }),
    ).toMatchObject({ enabled: true, idClaim: 'o', nameClaim: 'organization_name', teamMapping: { a: '1' } });
    expect(parseOrganisationSyncSettings({ OrganizationSync: { Enabled: true } }).enabled).toBe(true);
  });

  it('should default Enabled to false and the claims to organization_id / organization_name', () => {
    expect(parseOrganisationSyncSettings({ OrganisationSync: {} })).toEqual({
      enabled: false,
      idClaim: 'organization_id',
      nameClaim: 'organization_name',
      teamMapping: {},
      roleClaim: null,
      roleMapping: {},
      defaultRole: null,
    });
  });

  it('should keep a mapping key named __proto__ as an own key (JSON.parse keeps it as one)', () => {
    const sync = JSON.parse(
      '{"Enabled":true,"RoleClaim":"r","TeamMapping":{"__proto__":"7","o1":"1"},"RoleMapping":{"__proto__":"consumer-admin"}}',
    ) as Record<string, unknown>;
    const settings = parseOrganisationSyncSettings({ OrganisationSync: sync });
    expect(ownValue(settings.teamMapping, '__proto__')).toBe('7');
    expect(ownValue(settings.roleMapping, '__proto__')).toBe('consumer-admin');
    expect(Object.keys(settings.teamMapping)).toEqual(['__proto__', 'o1']);
  });

  it('should reject a non-object OrganisationSync naming the field', () => {
    const error = failure(() => parseOrganisationSyncSettings({ OrganisationSync: 'yes' }));
    expect(error.code).toBe('validation_failed');
    expect(error.details).toEqual({ field: 'IdentityHandlerConfig.OrganisationSync' });
  });

  it('should reject a non-boolean Enabled', () => {
    const error = failure(() => parseOrganisationSyncSettings({ OrganisationSync: { Enabled: 'true' } }));
    expect(error.code).toBe('validation_failed');
    expect(error.details).toEqual({ field: 'IdentityHandlerConfig.OrganisationSync.Enabled' });
    expect(error.message).toContain('expected true or false');
  });

  it('should reject empty or non-string claim names', () => {
    expect(failure(() => parseOrganisationSyncSettings({ OrganisationSync: { IdClaim: '' } })).details).toEqual({
      field: 'IdentityHandlerConfig.OrganisationSync.IdClaim',
    });
    expect(failure(() => parseOrganisationSyncSettings({ OrganisationSync: { NameClaim: 3 } })).details).toEqual({
      field: 'IdentityHandlerConfig.OrganisationSync.NameClaim',
    });
  });

  it('should reject a TeamMapping that is not an object or has a bad team id, naming the entry', () => {
    expect(failure(() => parseOrganisationSyncSettings({ OrganisationSync: { TeamMapping: ['9'] } })).details).toEqual({
      field: 'IdentityHandlerConfig.OrganisationSync.TeamMapping',
    });
    const bad = failure(() => parseOrganisationSyncSettings({ OrganisationSync: { TeamMapping: { 'ce-1': '' } } }));
    expect(bad.code).toBe('validation_failed');
    expect(bad.details).toEqual({ field: 'IdentityHandlerConfig.OrganisationSync.TeamMapping.ce-1' });
    expect(
      failure(() => parseOrganisationSyncSettings({ OrganisationSync: { TeamMapping: { x: 1.5 } } })).details,
    ).toEqual({ field: 'IdentityHandlerConfig.OrganisationSync.TeamMapping.x' });
  });

  it('should reject an IdentityHandlerConfig that is not an object', () => {
    expect(failure(() => parseOrganisationSyncSettings([])).details).toEqual({ field: 'IdentityHandlerConfig' });
  });
});

describe('readOrganisationClaims', () => {
  const settings = { idClaim: 'organization_id', nameClaim: 'organization_name' };

  it('should read the id and name claims', () => {
    expect(readOrganisationClaims({ organization_id: 'ce-1', organization_name: ' Acme ' }, settings)).toEqual({
      organisationId: 'ce-1',
      organisationName: 'Acme',
    });
  });

  it('should give null for missing, empty or structured values and accept numbers', () => {
    expect(readOrganisationClaims({ organization_id: '', organization_name: {} }, settings)).toEqual({
      organisationId: null,
      organisationName: null,
    });
    expect(readOrganisationClaims({ organization_id: 42 }, settings).organisationId).toBe('42');
  });

  it('should follow a dotted claim name into a nested object', () => {
    expect(
      readOrganisationClaims({ org: { id: 'n-1', name: 'Nested' } }, { idClaim: 'org.id', nameClaim: 'org.name' }),
    ).toEqual({ organisationId: 'n-1', organisationName: 'Nested' });
  });
});

describe('own-property mappings (issue 13, finding 7)', () => {
  it('should treat organisation ids such as constructor and __proto__ as unmapped, and map them when configured', () => {
    const settings = parseOrganisationSyncSettings({ OrganisationSync: { Enabled: true, TeamMapping: { acme: '7' } } });
    for (const id of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expect(ownValue(settings.teamMapping, id)).toBeUndefined();
    }
    const mapped = parseOrganisationSyncSettings(
      JSON.parse('{"OrganisationSync":{"TeamMapping":{"__proto__":"5","constructor":"6"}}}'),
    );
    expect(ownValue(mapped.teamMapping, '__proto__')).toBe('5');
    expect(ownValue(mapped.teamMapping, 'constructor')).toBe('6');
    expect(Object.getPrototypeOf(mapped.teamMapping)).toBeNull();
  });

  it('should read claims by own property only', () => {
    expect(readOrganisationClaims({}, { idClaim: 'constructor', nameClaim: '__proto__' })).toEqual({
      organisationId: null,
      organisationName: null,
    });
  });
});

describe('roles (issue 15, item 6)', () => {
  const sync = (raw: Record<string, unknown>) => parseOrganisationSyncSettings({ OrganisationSync: raw });

  it('should manage no role unless RoleClaim or DefaultRole is set', () => {
    expect(readRole({ roles: ['org-admin'] }, sync({ Enabled: true }))).toBeNull();
  });

  it('should map the claim, prefer the more privileged mapped role, and default to consumer-team-member', () => {
    const settings = sync({
      RoleClaim: 'roles',
      RoleMapping: { 'org-admin': 'consumer-admin', member: 'consumer-team-member' },
    });
    expect(settings.defaultRole).toBe('consumer-team-member');
    expect(readRole({ roles: ['member', 'org-admin'] }, settings)).toBe('consumer-admin');
    expect(readRole({ roles: 'org-admin' }, settings)).toBe('consumer-admin');
    expect(readRole({ roles: ['member'] }, settings)).toBe('consumer-team-member');
    expect(readRole({ roles: ['constructor', '__proto__'] }, settings)).toBe('consumer-team-member');
    expect(readRole({}, settings)).toBe('consumer-team-member');
    expect(readRole({ roles: ['other'] }, sync({ DefaultRole: 'consumer-admin' }))).toBe('consumer-admin');
  });

  it('should refuse admin roles and unknown roles, naming the field', () => {
    for (const [raw, field] of [
      [{ RoleMapping: { x: 'provider-admin' } }, 'IdentityHandlerConfig.OrganisationSync.RoleMapping.x'],
      [{ DefaultRole: 'super-admin' }, 'IdentityHandlerConfig.OrganisationSync.DefaultRole'],
      [{ RoleClaim: 5 }, 'IdentityHandlerConfig.OrganisationSync.RoleClaim'],
    ] as const) {
      const error = failure(() => sync(raw));
      expect(error.code).toBe('validation_failed');
      expect(error.details).toEqual({ field });
    }
  });
});
