import { readFile } from 'node:fs/promises';
import { DomainError } from '@app/common';
import type { ProfilesService } from '@app/profiles';

/** Imports a TIB profiles.json (create or replace by ID); nothing is imported if one entry is bad. */
export async function importProfilesFile(profiles: ProfilesService, file: string, actor: string) {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new DomainError(
      'bad_request',
      `${file}: cannot read the profiles file (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new DomainError('bad_request', `${file}: not valid JSON (${(e as Error).message})`);
  }
  try {
    return await profiles.importProfiles(parsed, { actor });
  } catch (e) {
    if (e instanceof DomainError) {
      throw new DomainError(e.code, `${file}: ${e.message}; nothing was imported`, e.details);
    }
    throw e;
  }
}
