// A small HTTP client for the driver: node:http with one keep-alive agent, no redirects
// followed, the body read only when asked for (and drained otherwise). Cheaper per request than
// fetch, so the driver (which shares the two cores with the broker) takes less CPU.
import http from 'node:http';

export const agent = new http.Agent({
  keepAlive: true,
  maxSockets: Infinity,
  maxFreeSockets: 1024,
  scheduling: 'lifo',
});

/**
 * One request. Resolves { status, headers, body? } (body as text when `readBody`), rejects on
 * network errors and after `timeoutMs`.
 * @param {string | URL} url
 * @param {{ method?: string, headers?: Record<string, string>, body?: string | Buffer, readBody?: boolean, timeoutMs?: number }} [options]
 */
export function request(url, { method = 'GET', headers = {}, body, readBody = false, timeoutMs = 30_000 } = {}) {
  return new Promise((resolve, reject) => {
    const u = typeof url === 'string' ? new URL(url) : url;
    const req = http.request(
      {
        agent,
        method,
        hostname: u.hostname,
        port: u.port,
        path: `${u.pathname}${u.search}`,
        headers: body === undefined ? headers : { 'content-length': Buffer.byteLength(body), ...headers },
      },
      (res) => {
        if (!readBody) {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode, headers: res.headers }));
          res.on('error', reject);
          return;
        }
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** GET that resolves with the parsed JSON body (throws on a non-2xx status). */
export async function getJson(url, headers = {}) {
  const res = await request(url, { headers, readBody: true, timeoutMs: 600_000 });
  if (res.status < 200 || res.status > 299) throw new Error(`GET ${url}: HTTP ${res.status} ${res.body.slice(0, 300)}`);
  return JSON.parse(res.body);
}
