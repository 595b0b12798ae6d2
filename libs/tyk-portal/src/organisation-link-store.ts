import { Injectable } from '@nestjs/common';

/** A Cloudentity organisation's portal organisation (and, once known, its team). */
export interface OrganisationLink {
  portalOrgId: string;
  portalTeamId?: string;
}

/** What `claim` hands to its `create`, which runs while the claim holds the organisation's lock. */
export interface OrganisationCreateAttempt {
  /**
   * Names earlier attempts sent to `POST /portal-api/organisations` without the link being
   * remembered (a timeout, a reset, a 5xx after the commit): the portal may hold an organisation
   * of one of these names that no link owns. Empty when no attempt is pending.
   */
  pendingNames: readonly string[];
  /** Records durably, before the POST, that an organisation of this name is being created. */
  recordIntent(name: string): Promise<void>;
  /** Which of these portal organisation ids a link already owns. */
  linked(portalOrgIds: readonly string[]): Promise<ReadonlySet<string>>;
}

/** What `create` made: a new portal organisation, or one an earlier attempt made (`adopted`). */
export interface CreatedOrganisation extends OrganisationLink {
  adopted?: boolean;
}

/**
 * Remembers which portal organisation each Cloudentity organisation became, keyed by the IdP's
 * issuer and the organisation id (two IdPs may both have an organisation "acme": they are two
 * companies). `claim` runs `create` at most once per key across concurrent callers (the Postgres
 * implementation takes a lock), so two first logins from one new organisation create one portal
 * organisation; intents recorded before the POST let a later claim adopt what an attempt with an
 * unknown outcome made. Bound by the broker to {@link ORGANISATION_LINK_STORE}.
 */
export interface OrganisationLinkStore {
  find(issuer: string, organisationId: string): Promise<OrganisationLink | null>;
  /**
   * Returns the remembered link, or runs `create`, remembers its result (and forgets the
   * intents) and returns it with `created: true`. Callers that waited for another caller's
   * `create` get `created: false`. An adopted organisation that a link already owns is refused.
   */
  claim(
    issuer: string,
    organisationId: string,
    create: (attempt: OrganisationCreateAttempt) => Promise<CreatedOrganisation>,
  ): Promise<{ link: OrganisationLink; created: boolean }>;
}

const linkKey = (issuer: string, organisationId: string) => `${issuer.length}:${issuer}${organisationId}`;

/** Process-local OrganisationLinkStore for tests: one in-flight `create` per organisation. */
@Injectable()
export class InMemoryOrganisationLinkStore implements OrganisationLinkStore {
  private readonly links = new Map<string, OrganisationLink>();
  private readonly inflight = new Map<string, Promise<OrganisationLink>>();
  private readonly intents = new Map<string, string[]>();

  find(issuer: string, organisationId: string): Promise<OrganisationLink | null> {
    const link = this.links.get(linkKey(issuer, organisationId));
    return Promise.resolve(link ? { ...link } : null);
  }

  async claim(
    issuer: string,
    orgId: string,
    create: (attempt: OrganisationCreateAttempt) => Promise<CreatedOrganisation>,
  ): Promise<{ link: OrganisationLink; created: boolean }> {
    const organisationId = linkKey(issuer, orgId);
    const existing = this.links.get(organisationId);
    if (existing) return { link: { ...existing }, created: false };
    const pending = this.inflight.get(organisationId);
    if (pending) return { link: { ...(await pending) }, created: false };
    const run = (async () => {
      try {
        const made = await create({
          pendingNames: [...(this.intents.get(organisationId) ?? [])],
          recordIntent: (name) => {
            const names = this.intents.get(organisationId) ?? [];
            if (!names.includes(name)) this.intents.set(organisationId, [...names, name]);
            return Promise.resolve();
          },
          linked: (ids) => Promise.resolve(new Set(ids.filter((id) => this.owned(id)))),
        });
        if (made.adopted && this.owned(made.portalOrgId)) {
          throw new Error(`portal organisation ${made.portalOrgId} is already linked`);
        }
        const link: OrganisationLink = { portalOrgId: made.portalOrgId };
        if (made.portalTeamId !== undefined) link.portalTeamId = made.portalTeamId;
        this.links.set(organisationId, { ...link });
        this.intents.delete(organisationId);
        return link;
      } finally {
        this.inflight.delete(organisationId);
      }
    })();
    this.inflight.set(organisationId, run);
    return { link: { ...(await run) }, created: true };
  }

  private owned(portalOrgId: string): boolean {
    return [...this.links.values()].some((l) => l.portalOrgId === portalOrgId);
  }
}
