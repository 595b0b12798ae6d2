import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readSmallText } from './small-file.js';

describe('readSmallText', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'small-file-'));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('should read a file of exactly the limit, multi-byte characters included', () => {
    const file = path.join(dir, 'exact');
    writeFileSync(file, 'é'.repeat(8)); // 16 bytes
    expect(readSmallText(file, 16)).toBe('é'.repeat(8));
  });

  it('should refuse a file one byte over the limit, naming it', () => {
    const file = path.join(dir, 'over');
    writeFileSync(file, 'x'.repeat(17));
    expect(() => readSmallText(file, 16)).toThrow(`${file} is larger than 16 bytes`);
  });

  it('should refuse an endless device without reading it whole', () => {
    expect(() => readSmallText('/dev/zero', 1024)).toThrow('/dev/zero is larger than 1024 bytes');
  });

  it('should pass on the error of a file that is not there', () => {
    expect(() => readSmallText(path.join(dir, 'missing'), 16)).toThrow(/ENOENT/);
  });
});
