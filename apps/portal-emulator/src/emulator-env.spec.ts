import { Logger } from '@nestjs/common';
import { emulatorOptionsFromEnv } from './emulator-env.js';
import { startPortalEmulator } from './emulator.js';

const BASE = { PORTAL_API_SECRET: 'api-secret-for-tests', PORTAL_ADMIN_TOKEN: 'admin-token-for-tests' };

describe('emulatorOptionsFromEnv (the environment of main.ts)', () => {
  it('should leave PORTAL_EMULATOR_DEACTIVATION_ENDS_SESSIONS off by default and take true or false', () => {
    expect(emulatorOptionsFromEnv(BASE).contract?.deactivationEndsSessions).toBe(false);
    const on = { ...BASE, PORTAL_EMULATOR_DEACTIVATION_ENDS_SESSIONS: 'true' };
    expect(emulatorOptionsFromEnv(on).contract?.deactivationEndsSessions).toBe(true);
    const off = { ...BASE, PORTAL_EMULATOR_DEACTIVATION_ENDS_SESSIONS: 'false' };
    expect(emulatorOptionsFromEnv(off).contract?.deactivationEndsSessions).toBe(false);
  });

  it('should stop the start with a message naming PORTAL_EMULATOR_DEACTIVATION_ENDS_SESSIONS for any other value, as the other switches do', () => {
    for (const v of ['', 'TRUE', 'True', '1', '0', 'yes', ' true', 'true\n', 'f']) {
      expect(() => emulatorOptionsFromEnv({ ...BASE, PORTAL_EMULATOR_DEACTIVATION_ENDS_SESSIONS: v })).toThrow(
        `PORTAL_EMULATOR_DEACTIVATION_ENDS_SESSIONS must be true or false, got "${v}"`,
      );
    }
    for (const [name, word] of [
      ['PORTAL_EMULATOR_TEAMS_WRITE', 'ids or names'],
      ['PORTAL_EMULATOR_PER_PAGE_OVER_MAX', 'clamp or reject'],
      ['PORTAL_EMULATOR_ADMIN_DEVELOPER_SSO', 'refuse or login'],
    ]) {
      expect(() => emulatorOptionsFromEnv({ ...BASE, [name]: 'TRUE' })).toThrow(`${name} must be ${word}, got "TRUE"`);
    }
  });

  it('should hand the switch to the emulator it starts', async () => {
    Logger.overrideLogger(['error', 'warn']);
    const options = emulatorOptionsFromEnv({
      ...BASE,
      PORTAL_EMULATOR_PORT: '0',
      PORTAL_EMULATOR_DEACTIVATION_ENDS_SESSIONS: 'true',
    });
    const emu = await startPortalEmulator(options);
    try {
      expect(emu.state.contract.deactivationEndsSessions).toBe(true);
      expect(emu.state.contract.teamsWrite).toBe('ids');
    } finally {
      await emu.stop();
    }
  });

  it('should still require the secrets and check the numbers', () => {
    expect(() => emulatorOptionsFromEnv({})).toThrow('PORTAL_API_SECRET and PORTAL_ADMIN_TOKEN must be set');
    expect(() => emulatorOptionsFromEnv({ ...BASE, PORTAL_EMULATOR_PORT: '70000' })).toThrow(/PORTAL_EMULATOR_PORT/);
    expect(() => emulatorOptionsFromEnv({ ...BASE, PORTAL_EMULATOR_MAX_PER_PAGE: '0' })).toThrow(
      /PORTAL_EMULATOR_MAX_PER_PAGE/,
    );
    expect(emulatorOptionsFromEnv(BASE)).toMatchObject({ port: 3001, host: '127.0.0.1', maxRecordedRequests: 0 });
  });
});
