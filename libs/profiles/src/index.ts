/** The TIB profile model (canonical casing and order). */
export {
  ACTION_TYPES,
  PROVIDER_NAMES,
  type ActionType,
  type ProviderName,
  type SocialProviderEntry,
  type StoredProfile,
  type TibProfile,
} from './profile.model.js';
/**
 * Case-insensitive decoding and strict validation of TIB profiles (PROFILE_LIMITS: the bounds on
 * every field), and readers for their parts.
 */
export {
  PROFILE_LIMITS,
  decodeProfile,
  decodeProfileOrThrow,
  providerConfigFlag,
  providerConfigString,
  providerSettings,
  socialProvider,
  type ProfileProblem,
} from './profile.codec.js';
/** Field-level profile diffs with secrets masked. */
export { profileDiff, type FieldChange } from './profile-diff.js';
/** The profiles table's entity (for the migration commands). */
export { ProfileEntity } from './profile.entity.js';
/** Profile CRUD, import and the in-memory cache the login path reads. */
export { ProfilesService, type ChangeContext } from './profiles.service.js';
export { ProfilesModule } from './profiles.module.js';
