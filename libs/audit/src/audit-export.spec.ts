import { csvField, csvHeader, csvLine, CSV_COLUMNS } from './audit-export.js';
import type { AuditEventRecord } from './audit-record.js';

describe('CSV export', () => {
  it('should quote fields with commas, quotes and line breaks (RFC 4180)', () => {
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('line\nbreak')).toBe('"line\nbreak"');
    expect(csvField(null)).toBe('');
    expect(csvField('plain')).toBe('plain');
  });

  it('should defuse values a spreadsheet would run as formulas', () => {
    expect(csvField('=HYPERLINK("http://evil")')).toBe('"\'=HYPERLINK(""http://evil"")"');
    expect(csvField('+1')).toBe("'+1");
    expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)");
  });

  it('should write details as JSON and one column per field', () => {
    const record = Object.fromEntries(CSV_COLUMNS.map((c) => [c, null])) as unknown as AuditEventRecord;
    record.id = '7';
    record.details = { a: 1 };
    const line = csvLine(record);
    expect(line.endsWith('\r\n')).toBe(true);
    const fields = line.trimEnd().split(',');
    expect(fields).toHaveLength(CSV_COLUMNS.length + 0);
    expect(fields[0]).toBe('7');
    expect(line).toContain('{""a"":1}');
    expect(csvHeader().trimEnd().split(',')).toEqual([...CSV_COLUMNS]);
  });
});
