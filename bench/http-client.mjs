// CPU per upstream call: raw undici (what IdpHttpClient and TykHttp use) against @nestjs/axios's
// HttpService over an axios adapter built on undici (issue 18, item 3). Run: `node bench/http-client.mjs`.
//
// The server runs in a child process, so process.cpuUsage() of this process counts the client
// only. Calls are sequential (a login makes its upstream calls one after another), POST with a
// form body and a ~400-byte JSON answer, like a token exchange. The variants run in alternating
// rounds so that load from other processes spreads over all of them; the median round is shown.
//
// Environment: BENCH_HTTP_CALLS (calls per variant per round, default 4000), BENCH_HTTP_ROUNDS (5).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { loadavg } from 'node:os';
import { HttpService } from '@nestjs/axios';
import axios, { AxiosError, AxiosHeaders } from 'axios';
import { firstValueFrom } from 'rxjs';
import { Agent, request } from 'undici';

const CALLS = Number(process.env.BENCH_HTTP_CALLS ?? 4000);
const ROUNDS = Number(process.env.BENCH_HTTP_ROUNDS ?? 5);
const WARMUP = 1500;

const SERVER = `
const http = require('node:http');
const body = JSON.stringify({
  access_token: 'a'.repeat(43), token_type: 'Bearer', expires_in: 300, scope: 'openid email profile',
  id_token: 'h.' + 'p'.repeat(280) + '.s',
});
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
`;

/** The options of upstreamAgent() in libs/common (deadlines, size limit, TLS), as the broker builds it. */
function upstreamAgent({ connections, timeoutMs, maxResponseSize, verifyTls }) {
  return new Agent({
    connections,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    maxResponseSize,
    connect: { rejectUnauthorized: verifyTls, timeout: timeoutMs },
  });
}

/**
 * An axios adapter on undici: the request goes through the same Agent (so undici's timeouts and
 * maxResponseSize apply), axios keeps its config merging, interceptors, transforms and errors.
 */
function undiciAdapter(agent) {
  return async (config) => {
    const res = await request(axios.getUri(config), {
      method: config.method.toUpperCase(),
      headers: AxiosHeaders.from(config.headers).toJSON(),
      body: config.data,
      signal: config.signal,
      dispatcher: agent,
    });
    const data = await res.body.text();
    const response = {
      data,
      status: res.statusCode,
      statusText: '',
      headers: AxiosHeaders.from(res.headers),
      config,
      request: null,
    };
    if (!config.validateStatus || config.validateStatus(response.status)) return response;
    throw new AxiosError(
      `Request failed with status code ${res.statusCode}`,
      AxiosError.ERR_BAD_RESPONSE,
      config,
      null,
      response,
    );
  };
}

const server = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
const [chunk] = await once(server.stdout, 'data');
const url = `http://127.0.0.1:${String(chunk).trim()}/token`;
const form = new URLSearchParams({
  grant_type: 'authorization_code',
  code: 'c'.repeat(43),
  redirect_uri: 'https://broker/cb',
  code_verifier: 'v'.repeat(43),
}).toString();
const headers = {
  accept: 'application/json',
  'content-type': 'application/x-www-form-urlencoded',
  authorization: 'Basic Y2xpZW50OnNlY3JldA==',
};

const agent = upstreamAgent({ connections: 16, timeoutMs: 5000, maxResponseSize: 1024 * 1024, verifyTls: true });
const instance = axios.create({ adapter: undiciAdapter(agent), timeout: 5000, maxRedirects: 0 });
const httpService = new HttpService(instance);

const variants = {
  'undici request()': async () => {
    const res = await request(url, { method: 'POST', headers, body: form, dispatcher: agent });
    const text = await res.body.text();
    return JSON.parse(text).access_token;
  },
  'axios (undici adapter)': async () => (await instance.post(url, form, { headers })).data.access_token,
  'HttpService (undici adapter)': async () =>
    (await firstValueFrom(httpService.post(url, form, { headers }))).data.access_token,
};

async function measure(fn, calls) {
  const before = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) {
    if ((await fn()).length !== 43) throw new Error('bad answer');
  }
  const cpu = process.cpuUsage(before);
  return { cpuUs: (cpu.user + cpu.system) / calls, wallUs: ((performance.now() - t0) * 1000) / calls };
}

for (const fn of Object.values(variants)) await measure(fn, WARMUP);
const results = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
for (let round = 0; round < ROUNDS; round++) {
  const names = Object.keys(variants);
  if (round % 2 === 1) names.reverse();
  for (const name of names) results[name].push(await measure(variants[name], CALLS));
}
server.kill();
await agent.close();

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(results['undici request()'].map((r) => r.cpuUs));
console.log(
  `${CALLS} sequential POSTs × ${ROUNDS} rounds per variant, loopback; load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
console.log('variant                        CPU µs/call (median)  over undici  wall µs/call');
for (const [name, runs] of Object.entries(results)) {
  const cpu = median(runs.map((r) => r.cpuUs));
  const wall = median(runs.map((r) => r.wallUs));
  console.log(
    `${name.padEnd(30)} ${cpu.toFixed(1).padStart(20)} ${(cpu - base).toFixed(1).padStart(12)} ${wall.toFixed(1).padStart(12)}`,
  );
}
