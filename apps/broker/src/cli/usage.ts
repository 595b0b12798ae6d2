/** The CLI's help text (`help`, and after any unknown command or missing argument). */
export const USAGE = `Usage: npm run broker -- <command>   (or: node dist/apps/broker/apps/broker/src/main.js <command>)

Commands:
  config check                 validate the configuration and print it with secrets masked
  migration run                apply pending migrations
  migration revert             revert the last migration
  migration check              fail when the entities and the migrations disagree
  migration generate <Name>    write a migration for the difference into libs/database/src/migrations
  profiles list                list the stored profiles
  profiles import <file>       import a TIB profiles.json (create or replace by ID; all or nothing)
  profiles export <file|->     write every profile to a TIB-compatible profiles.json (- for stdout)
  developers list [email]      list developers (optionally one email)
  developers block <id>        block a developer (their logins fail with developer_blocked)
  developers unblock <id>      unblock a developer
  developers erase <id>        erase a developer's personal data (the audit log keeps pseudonymous ids)
  developers deactivate-inactive [--dry-run]
                               block developers with no login for BROKER_DEPROVISION_INACTIVE_DAYS days
                               (--dry-run: only list them)
  doctor [--profile ID] [--write-probe]
                               check a profile (default: every profile) end to end without a user:
                               IdP discovery, keys, client credentials, redirect URI, portal secrets
                               and teams, risky settings; exit 1 on any ✗. --write-probe also creates
                               and removes a throwaway organisation, team and user in the portal
  audit verify [from] [to] [--expected-head HASH]
                               recompute the audit hash chain and check the signed checkpoints
                               (optionally an id range); exit 1 if broken
  audit verify --export FILE.ndjson --keys KEYS.json --checkpoints CPS.json [--expected-head HASH]
                               verify an export offline: no database, no broker
  audit checkpoint             seal and sign a checkpoint up to the head now
  audit public-key <file>...   print one JWKS with the public halves of signing key files and
                               saved JWKS files, for BROKER_AUDIT_TRUSTED_KEYS_FILE (key rotation)
  audit export <file|-> [ndjson|csv]
                               write every audit event (default ndjson)

Options (as for the server): -c/--conf <tib.conf>, -p/--profiles <profiles.json>
`;
