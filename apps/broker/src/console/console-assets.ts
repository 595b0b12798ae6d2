import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONSOLE_CSS } from './views/styles.js';

/** One static file of the console, read once at start. */
export interface ConsoleAsset {
  body: Buffer;
  type: string;
  /** A strong validator: the first 16 bytes of the body's SHA-256, base64url, quoted. */
  etag: string;
  /** The same hash, short, for the `?v=` of the URL the pages use (so a new file is a new URL). */
  version: string;
}

/**
 * The uPlot build shipped in node_modules (a dependency, so it is in the production image too):
 * resolved through the package, not a path relative to this file, so the built app finds it.
 */
function uplotDist(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('uplot/package.json')), 'dist');
}

/** Our own browser script (not compiled: scripts/build.mjs copies it next to the built module). */
const OWN_ASSETS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'assets');

/** The console's tab icon (a page without one makes the browser ask for /favicon.ico, a 404). */
const FAVICON =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><path d="M8 1 2 3.5V8c0 3.3 2.5 6.1 6 7 3.5-.9 6-3.7 6-7V3.5z" fill="#5a3fc0"/></svg>';

function asset(body: Buffer, type: string): ConsoleAsset {
  const hash = createHash('sha256').update(body).digest('base64url');
  return { body, type, etag: `"${hash.slice(0, 22)}"`, version: hash.slice(0, 10) };
}

/**
 * The console's static files, served by the broker itself (no CDN, works offline): its
 * stylesheet, uPlot 1.6 (the chart library) and `charts.js`, which draws every chart container
 * with uPlot from the page's JSON data block. Anything else under /console/assets is a 404.
 * Read once, on first use (the controller's construction at start).
 */
export class ConsoleAssets {
  private readonly files: ReadonlyMap<string, ConsoleAsset>;

  private constructor() {
    const dist = uplotDist();
    this.files = new Map([
      ['console.css', asset(Buffer.from(CONSOLE_CSS), 'text/css; charset=utf-8')],
      ['uplot.min.css', asset(readFileSync(path.join(dist, 'uPlot.min.css')), 'text/css; charset=utf-8')],
      ['uplot.min.js', asset(readFileSync(path.join(dist, 'uPlot.iife.min.js')), 'text/javascript; charset=utf-8')],
      ['favicon.svg', asset(Buffer.from(FAVICON), 'image/svg+xml')],
      ['charts.js', asset(readFileSync(path.join(OWN_ASSETS, 'charts.js')), 'text/javascript; charset=utf-8')],
    ]);
  }

  private static instance: ConsoleAssets | undefined;

  static load(): ConsoleAssets {
    ConsoleAssets.instance ??= new ConsoleAssets();
    return ConsoleAssets.instance;
  }

  get(name: string): ConsoleAsset | undefined {
    return this.files.get(name);
  }

  /** The URL a page links: `/console/assets/<name>?v=<content hash>` (a new file is a new URL). */
  url(name: string): string {
    const file = this.files.get(name);
    if (!file) throw new Error(`ConsoleAssets.url: no asset ${name}`);
    return `/console/assets/${name}?v=${file.version}`;
  }
}
