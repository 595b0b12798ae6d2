// One HTTP server for the platform probe (issue 19): `node server.mjs <express|fastify|bare> <port>`.
// The two login hops' shape as the broker has them: security headers (helmet, the broker's CSP),
// a controller-wide guard and a route guard (async, as the login guard is), a custom parameter
// decorator, @Res(), a Set-Cookie and a 302. No body parser on these routes (the broker mounts
// none there). `bare` is node:http doing the same answers: what the platform itself adds is the
// difference.
import 'reflect-metadata';
import http from 'node:http';

process.on('SIGTERM', () => process.exit(0)); // lets --cpu-prof write its profile
const [kind, portText] = process.argv.slice(2);
const port = Number(portText);
const COOKIE = 'sso_broker_login=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; Path=/auth; HttpOnly; SameSite=Lax';
const CSP = {
  directives: { 'default-src': ["'self'"], 'style-src': ["'self'", "'unsafe-inline'"], 'img-src': ["'self'", 'data:'] },
};
const tick = () => new Promise((resolve) => setImmediate(resolve));
const target = (path) =>
  path.endsWith('/callback') ? 'http://portal.test/sso?nonce=n' : 'http://idp.test/authorize?state=s';

if (kind === 'bare') {
  http
    .createServer((req, res) => {
      const { pathname } = new URL(req.url ?? '/', 'http://x');
      void tick().then(() => {
        res.writeHead(302, { location: target(pathname), 'set-cookie': COOKIE, 'cache-control': 'no-store' });
        res.end();
      });
    })
    .listen(port, '127.0.0.1', () => console.log('ready'));
} else {
  const { Controller, Get, Injectable, Module, Res, UseGuards, createParamDecorator } = await import('@nestjs/common');
  const { NestFactory } = await import('@nestjs/core');
  // Decorators applied by hand (plain .mjs, no compiler), in TypeScript's order.
  const decorate = (decorators, proto, key) => {
    const descriptor = Object.getOwnPropertyDescriptor(proto, key);
    for (const d of [...decorators].reverse()) d(proto, key, descriptor);
  };
  class RateGuard {
    canActivate(ctx) {
      return ctx.switchToHttp().getRequest().headers['x-probe-blocked'] === undefined;
    }
  }
  Injectable()(RateGuard);
  class LoginGuard {
    async canActivate(ctx) {
      const req = ctx.switchToHttp().getRequest();
      await tick();
      req.login = { profile: req.params.id, provider: req.params.provider };
      return true;
    }
  }
  Injectable()(LoginGuard);
  const CurrentLogin = createParamDecorator((_data, ctx) => ctx.switchToHttp().getRequest().login);
  const answer = (res, login, callback) => {
    const location = target(callback ? '/callback' : '/');
    if (kind === 'fastify')
      res.header('cache-control', 'no-store').header('set-cookie', COOKIE).redirect(location, 302);
    else
      res.setHeader('Cache-Control', 'no-store').setHeader('Set-Cookie', COOKIE).location(location).status(302).end();
  };
  class LoginController {
    start(login, res) {
      answer(res, login, false);
    }
    async callback(login, res) {
      await tick();
      answer(res, login, true);
    }
  }
  Reflect.defineMetadata('design:paramtypes', [], LoginController);
  for (const [method, path] of [
    ['start', ':id/:provider'],
    ['callback', ':id/:provider/callback'],
  ]) {
    CurrentLogin()(LoginController.prototype, method, 0);
    Res()(LoginController.prototype, method, 1);
    decorate([Get(path), UseGuards(LoginGuard)], LoginController.prototype, method);
  }
  UseGuards(RateGuard)(LoginController);
  Controller('auth')(LoginController);
  class ProbeModule {}
  Module({ controllers: [LoginController] })(ProbeModule);
  let app;
  if (kind === 'fastify') {
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    app = await NestFactory.create(ProbeModule, new FastifyAdapter(), { logger: false, bodyParser: false });
    await app.register((await import('@fastify/helmet')).default, { contentSecurityPolicy: CSP });
  } else if (kind === 'express') {
    app = await NestFactory.create(ProbeModule, { logger: false, bodyParser: false });
    app.getHttpAdapter().getInstance().disable('x-powered-by');
    app.use((await import('helmet')).default({ contentSecurityPolicy: CSP }));
  } else {
    throw new Error(`unknown kind ${kind}: express, fastify or bare`);
  }
  await app.listen(port, '127.0.0.1');
  console.log('ready');
}
