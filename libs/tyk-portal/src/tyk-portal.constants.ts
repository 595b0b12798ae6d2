/** Injection token of the {@link TokenCache} port (TIB's Redis `identity-cache.`). */
export const TOKEN_CACHE = Symbol('TOKEN_CACHE');
/** Injection token of the {@link OrganisationLinkStore} port. */
export const ORGANISATION_LINK_STORE = Symbol('ORGANISATION_LINK_STORE');
/** Injection token of the optional {@link TykCallObserver} (metrics hook). */
export const TYK_CALL_OBSERVER = Symbol('TYK_CALL_OBSERVER');
