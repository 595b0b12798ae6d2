import { providerConfigFlag, providerConfigString, providerSettings, type TibProfile } from '@app/profiles';
import { fail, pass, warn, type DoctorItem } from './doctor-report.js';

function isLoopback(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** `plain` when the URL is http:// to a host other than this machine. */
function plainHttp(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' && !isLoopback(u.hostname);
  } catch {
    return false;
  }
}

/**
 * The profile settings that make logins fail or unsafe, read from the profile alone (no I/O):
 * plain http beyond this machine, CustomEmailField (every login fails email_unverified),
 * AllowUnverifiedEmail (account takeover by email), no FailureRedirect.
 */
export function riskySettings(profile: TibProfile): DoctorItem[] {
  const items: DoctorItem[] = [];
  const urls: [string, string][] = [
    ['ProviderConfig.CallbackBaseURL', providerConfigString(profile, 'CallbackBaseURL')],
    ['ProviderConfig.FailureRedirect', providerConfigString(profile, 'FailureRedirect')],
    ['ReturnURL', profile.ReturnURL],
  ];
  const providers = (providerSettings(profile) as { UseProviders?: { Name?: unknown; DiscoverURL?: unknown }[] } | null)
    ?.UseProviders;
  for (const [i, p] of (Array.isArray(providers) ? providers : []).entries()) {
    if (typeof p?.DiscoverURL === 'string') urls.push([`ProviderConfig.UseProviders[${i}].DiscoverURL`, p.DiscoverURL]);
  }
  const plain = urls.filter(([, url]) => url !== '' && plainHttp(url)).map(([name]) => name);
  items.push(
    plain.length === 0
      ? pass('HTTPS', 'every URL of the profile is https (or on this machine)')
      : fail(
          'HTTPS',
          `plain http beyond this machine in ${plain.join(', ')}: codes, tokens and the portal nonce travel readable`,
          'use https:// URLs',
        ),
  );
  const allowUnverified = providerConfigFlag(profile, 'AllowUnverifiedEmail');
  if (profile.CustomEmailField !== '' && !allowUnverified) {
    items.push(
      fail(
        'CustomEmailField',
        `the email comes from the claim "${profile.CustomEmailField}", which email_verified does not cover: every login fails with email_unverified`,
        'remove CustomEmailField (the verified email claim is used), or set ProviderConfig.AllowUnverifiedEmail to true if the IdP checks that claim',
      ),
    );
  } else {
    items.push(
      pass('CustomEmailField', profile.CustomEmailField === '' ? 'not set' : 'set, with AllowUnverifiedEmail'),
    );
  }
  items.push(
    allowUnverified
      ? warn(
          'AllowUnverifiedEmail',
          'emails the IdP does not vouch for are accepted; the portal links accounts by email, so anyone who can claim an address at the IdP can take over that portal account',
          'remove ProviderConfig.AllowUnverifiedEmail unless the IdP verifies every address it releases',
        )
      : pass('AllowUnverifiedEmail', 'off: only verified emails sign in'),
  );
  items.push(
    providerConfigString(profile, 'FailureRedirect') === ''
      ? warn(
          'FailureRedirect',
          "not set: failed logins end on the broker's error page instead of your site",
          'set ProviderConfig.FailureRedirect to a page of the portal (the broker adds ?error=<code>)',
        )
      : pass('FailureRedirect', providerConfigString(profile, 'FailureRedirect')),
  );
  return items;
}
