import { Injectable } from '@nestjs/common';

/** A Cloudentity organisation's portal organisation (and, once known, its team). */
export interface OrganisationLink {
  portalOrgId: string;
  portalTeamId?: string;
}

/**
 * Remembers which portal organisation each Cloudentity organisation became, keyed by the IdP's
 * issuer and the organisation id (two IdPs may both have an organisation "acme": they are two
 * companies). `claim` runs `create` at most once per key across concurrent callers (the Postgres
 * implementation takes a lock), so two first logins from one new organisation create one portal
 * organisation. Bound by the broker to {@link ORGANISATION_LINK_STORE}.
 */
export interface OrganisationLinkStore {
  find(issuer: string, organisationId: string): Promise<OrganisationLink | null>;
  /**
   * Returns the remembered link, or runs `create`, remembers its result and returns it with
   * `created: true`. Callers that waited for another caller's `create` get `created: false`.
   */
  claim(
    issuer: string,
    organisationId: string,
    create: () => Promise<OrganisationLink>,
  ): Promise<{ link: OrganisationLink; created: boolean }>;
}

const linkKey = (issuer: string, organisationId: string) => `${issuer.length}:${issuer}${organisationId}`;

/** Process-local OrganisationLinkStore for tests: one in-flight `create` per organisation. */
@Injectable()
export class InMemoryOrganisationLinkStore implements OrganisationLinkStore {
  private readonly links = new Map<string, OrganisationLink>();
  private readonly inflight = new Map<string, Promise<OrganisationLink>>();

  find(issuer: string, organisationId: string): Promise<OrganisationLink | null> {
    const link = this.links.get(linkKey(issuer, organisationId));
    return Promise.resolve(link ? { ...link } : null);
  }

  async claim(
    issuer: string,
    orgId: string,
    create: () => Promise<OrganisationLink>,
  ): Promise<{ link: OrganisationLink; created: boolean }> {
    const organisationId = linkKey(issuer, orgId);
    const existing = this.links.get(organisationId);
    if (existing) return { link: { ...existing }, created: false };
    const pending = this.inflight.get(organisationId);
    if (pending) return { link: { ...(await pending) }, created: false };
    const run = (async () => {
      try {
        const link = await create();
        this.links.set(organisationId, { ...link });
        return link;
      } finally {
        this.inflight.delete(organisationId);
      }
    })();
    this.inflight.set(organisationId, run);
    return { link: { ...(await run) }, created: true };
  }
}
