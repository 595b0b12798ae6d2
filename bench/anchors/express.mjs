// The hand-written broker (issue 19): what a team would write in a day with the usual libraries.
// Express 5, express-session (MemoryStore), passport + passport-openidconnect; the state and the
// nonce live in the memory session (passport-openidconnect's own SessionStateStore). No PKCE, no
// check of the ID token beyond passport-openidconnect's (it decodes the token and checks iss, aud,
// azp, exp and nonce, not the signature); the token POST is passport-openidconnect's (the `oauth`
// package: client_secret_post, node:http's global agent). Then a developer upsert and an
// audit INSERT in Postgres (pg Pool, plain queries), the broker's three portal calls (fetch) and
// a 302 to the portal's /sso?nonce=.
import express from 'express';
import session from 'express-session';
import passport from 'passport';
import { Strategy } from 'passport-openidconnect';
import pg from 'pg';
import { anchorSettings, fetchSend, portalLogin } from './common.mjs';

const cfg = anchorSettings();
const pool = new pg.Pool({ connectionString: cfg.databaseUrl, max: cfg.poolSize });
await pool.query(`
  CREATE TABLE IF NOT EXISTS anchor_express_developers (
    id serial PRIMARY KEY, subject text UNIQUE NOT NULL, email text, name text, organisation_id text,
    last_login_at timestamptz DEFAULT now(), login_count integer DEFAULT 1);
  CREATE TABLE IF NOT EXISTS anchor_express_audit (
    id serial PRIMARY KEY, created_at timestamptz DEFAULT now(), event text NOT NULL, subject text,
    developer_id integer, details jsonb)`);

/** @type {any} */
const discovery = await (await fetch(`${cfg.issuer}/.well-known/openid-configuration`)).json();

passport.use(
  new Strategy(
    {
      issuer: discovery.issuer,
      authorizationURL: discovery.authorization_endpoint,
      tokenURL: discovery.token_endpoint,
      userInfoURL: discovery.userinfo_endpoint,
      clientID: cfg.clientId,
      clientSecret: cfg.clientSecret,
      callbackURL: `${cfg.publicUrl}/callback`,
      scope: ['profile', 'email'],
      // passport-openidconnect sends a fresh nonce when this is truthy (its types say string).
      nonce: /** @type {any} */ (true),
      skipUserProfile: true,
    },
    // (issuer, profile, context, idToken, done): the claims passport does not put in the profile
    // are read from the token's payload.
    (issuer, profile, context, idToken, done) => {
      const claims = JSON.parse(Buffer.from(idToken.split('.')[1], 'base64url').toString('utf8'));
      pool
        .query(
          `INSERT INTO anchor_express_developers (subject, email, name, organisation_id) VALUES ($1, $2, $3, $4)
           ON CONFLICT (subject) DO UPDATE SET email = $2, name = $3, organisation_id = $4,
             last_login_at = now(), login_count = anchor_express_developers.login_count + 1
           RETURNING id`,
          [profile.id, claims.email, claims.name, claims.organization_id],
        )
        .then(
          ({ rows }) => done(null, { id: rows[0].id, sub: profile.id, email: claims.email, name: claims.name }),
          (e) => done(e),
        );
    },
  ),
);

const app = express();
app.use(
  session({
    secret: 'anchor-express-session-secret',
    resave: false,
    saveUninitialized: false,
    cookie: { httpOnly: true, sameSite: 'lax', maxAge: 10 * 60 * 1000 },
  }),
);
app.use(passport.initialize());

const failed = `${cfg.portalUrl}/failed?error=`;
app.get('/health', (req, res) => {
  res.send('ok');
});
app.get('/start', passport.authenticate('openidconnect'));
app.get(
  '/callback',
  passport.authenticate('openidconnect', { session: false, failureRedirect: `${failed}login_failed` }),
  async (req, res, next) => {
    try {
      const user = /** @type {any} */ (req.user);
      const nonce = await portalLogin(cfg, user, fetchSend);
      await pool.query(
        'INSERT INTO anchor_express_audit (event, subject, developer_id, details) VALUES ($1, $2, $3, $4)',
        ['login.succeeded', user.sub, user.id, { ip: req.ip, userAgent: req.get('user-agent') }],
      );
      res.redirect(`${cfg.portalUrl}/sso?nonce=${encodeURIComponent(nonce)}`);
    } catch (e) {
      next(e);
    }
  },
);
app.use((err, req, res, _next) => {
  console.error(err);
  res.redirect(`${failed}express_error`);
});

const server = app.listen(cfg.port, '127.0.0.1');
const stop = () => {
  server.closeAllConnections();
  server.close();
  void pool.end();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
