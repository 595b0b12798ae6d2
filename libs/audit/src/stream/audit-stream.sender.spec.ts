import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { backoffMs } from './audit-stream.service.js';
import { encodeBatch, signBody, streamSecureContext } from './audit-stream.sender.js';
import type { AuditEventRecord } from '../audit-record.js';

describe('audit stream sender pieces', () => {
  it('should back off exponentially from 250 ms up to the cap, with ±20 % jitter', () => {
    const mid = () => 0.5;
    expect([1, 2, 3, 4, 5, 20].map((n) => backoffMs(n, 3000, mid))).toEqual([250, 500, 1000, 2000, 3000, 3000]);
    expect(backoffMs(1, 3000, () => 0)).toBe(200);
    expect(backoffMs(1, 3000, () => 0.999999)).toBe(300);
  });

  it('should sign the exact body with HMAC-SHA256 as sha256=<hex>', () => {
    const body = '{"a":1}\n';
    expect(signBody(body, 'k'.repeat(16))).toBe(
      `sha256=${createHmac('sha256', 'k'.repeat(16)).update(body).digest('hex')}`,
    );
  });

  it('should encode a batch as one JSON object per line in either format', () => {
    const rec = {
      id: '5',
      occurred_at: '2026-12-06T10:00:00.000000Z',
      type: 'profile.created',
      outcome: 'success',
      actor: 'admin:ops',
      target: 'profile:p1',
      seq: '5',
    } as AuditEventRecord;
    expect(encodeBatch([rec, rec], 'ndjson').split('\n')).toEqual([JSON.stringify(rec), JSON.stringify(rec), '']);
    const ocsf = JSON.parse(encodeBatch([rec], 'ocsf')) as { class_uid: number; metadata: { uid: string } };
    expect(ocsf).toMatchObject({ class_uid: 6003, metadata: { uid: '5' } });
  });

  it('should build its trust from Node’s roots plus a system bundle, skipping a missing or broken file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'stream-ca-'));
    const broken = path.join(dir, 'bundle.pem');
    writeFileSync(broken, '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n');
    expect(streamSecureContext(path.join(dir, 'missing.pem'), [path.join(dir, 'missing.pem'), broken])).toBeDefined();
    expect(streamSecureContext('', [])).toBeDefined();
  });
});
