import { StreamCursorMac, type SignedCursorFields } from './stream-cursor-mac.js';

const SECRET = 'cursor-mac-spec-secret-0123456789';

describe('StreamCursorMac (the SIEM stream cursor’s authentication)', () => {
  const mac = new StreamCursorMac(SECRET);
  const signed = (seq: string, id: string | null): SignedCursorFields => ({
    last_seq: seq,
    last_event_id: id,
    mac: mac.sign(seq, id),
    unsigned_seq: null,
    unsigned_event_id: null,
  });

  it('should accept the position it signed, also for another instance with the same secret', () => {
    expect(mac.check(signed('42', '57'))).toEqual({ verdict: 'valid' });
    expect(new StreamCursorMac(SECRET).check(signed('42', '57'))).toEqual({ verdict: 'valid' });
    expect(mac.check(signed('0', null))).toEqual({ verdict: 'valid' });
  });

  it('should take over a cursor signed with the previous secret after a rotation, and only with it configured', () => {
    const OLD = 'cursor-mac-spec-old-secret-987654';
    const before = new StreamCursorMac(OLD);
    const cursor = { ...signed('42', '57'), mac: before.sign('42', '57') };
    expect(new StreamCursorMac(SECRET, OLD).check(cursor)).toEqual({ verdict: 'previous' });
    // Its own MAC still comes first; the previous secret's MAC for a moved position is tampering.
    expect(new StreamCursorMac(SECRET, OLD).check(signed('42', '57'))).toEqual({ verdict: 'valid' });
    expect(new StreamCursorMac(SECRET, OLD).check({ ...cursor, last_seq: '90' })).toMatchObject({
      verdict: 'tampered',
      why: 'cursor_signature_invalid',
    });
    // Without the previous secret (or with another one) a rotation reads as tampering.
    expect(mac.check(cursor)).toMatchObject({ verdict: 'tampered', resumeAfterSeq: '0' });
    expect(new StreamCursorMac(SECRET, 'cursor-mac-spec-other-secret-55').check(cursor)).toMatchObject({
      verdict: 'tampered',
    });
  });

  it('should take a megabyte or a lone surrogate as the previous secret without failing, and still tell them apart', () => {
    const huge = 'h'.repeat(1024 * 1024);
    const surrogate = 'old-secret-with-a-lone-\uD800-surrogate';
    for (const previous of [huge, surrogate]) {
      const cursor = { ...signed('7', '8'), mac: new StreamCursorMac(previous).sign('7', '8') };
      expect(new StreamCursorMac(SECRET, previous).check(cursor)).toEqual({ verdict: 'previous' });
    }
    const fromHuge = { ...signed('7', '8'), mac: new StreamCursorMac(huge).sign('7', '8') };
    expect(new StreamCursorMac(SECRET, surrogate).check(fromHuge)).toMatchObject({ verdict: 'tampered' });
  });

  it('should not use the stream secret itself as the key, nor leave it in the MAC', () => {
    const m = mac.sign('42', '57');
    expect(m).not.toContain(SECRET);
    expect(m).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('should call a moved, re-labelled or forged cursor tampered and resume from the start', () => {
    const moved = { ...signed('42', '57'), last_seq: '90' };
    expect(mac.check(moved)).toEqual({
      verdict: 'tampered',
      why: 'cursor_signature_invalid',
      resumeAfterSeq: '0',
      resumeAfterEventId: null,
    });
    expect(mac.check({ ...signed('42', '57'), last_event_id: '58' })).toMatchObject({ verdict: 'tampered' });
    expect(
      mac.check({ ...signed('42', '57'), mac: new StreamCursorMac('another-secret-0123456789').sign('42', '57') }),
    ).toMatchObject({ verdict: 'tampered', resumeAfterSeq: '0' });
    expect(mac.check({ ...signed('90', '95'), mac: 'x' })).toMatchObject({ verdict: 'tampered' });
    // An unsigned cursor after the upgrade's position is gone (a MAC was written since): tampered.
    expect(mac.check({ ...signed('90', '95'), mac: null })).toEqual({
      verdict: 'tampered',
      why: 'cursor_unsigned',
      resumeAfterSeq: '0',
      resumeAfterEventId: null,
    });
  });

  it('should accept the unsigned position the upgrade found, only that one, and otherwise resume from it', () => {
    const upgrade = { last_seq: '42', last_event_id: '57', mac: null, unsigned_seq: '42', unsigned_event_id: '57' };
    expect(mac.check(upgrade)).toEqual({ verdict: 'legacy' });
    expect(
      mac.check({ ...upgrade, last_seq: '0', last_event_id: null, unsigned_seq: '0', unsigned_event_id: null }),
    ).toEqual({ verdict: 'legacy' });
    // Moved forward past the upgrade's position (or by an old replica still running): back to it.
    expect(mac.check({ ...upgrade, last_seq: '90', last_event_id: '95' })).toEqual({
      verdict: 'tampered',
      why: 'cursor_unsigned',
      resumeAfterSeq: '42',
      resumeAfterEventId: '57',
    });
    // Moved back: resume from there (more duplicates, nothing skipped).
    expect(mac.check({ ...upgrade, last_seq: '10', last_event_id: '12' })).toMatchObject({
      verdict: 'tampered',
      resumeAfterSeq: '10',
      resumeAfterEventId: '12',
    });
    // A MAC that does not verify never falls back to the upgrade's position.
    expect(mac.check({ ...upgrade, last_seq: '90', mac: 'forged' })).toMatchObject({
      why: 'cursor_signature_invalid',
      resumeAfterSeq: '0',
    });
  });
});

describe('StreamCursorMac.checkPending (the retry bound of a failed batch)', () => {
  const mac = new StreamCursorMac(SECRET);
  const at = (pending: string | null) => ({
    last_seq: '42',
    last_event_id: '57',
    pending_last_seq: pending,
    pending_mac: mac.signPending('42', '57', pending),
  });

  it('should accept the bound it signed, none included, and refuse any other bound or position', () => {
    expect(mac.checkPending(at('50'))).toBe('valid');
    expect(mac.checkPending(at(null))).toBe('valid');
    expect(mac.checkPending({ ...at('50'), pending_last_seq: '51' })).toBe('tampered');
    expect(mac.checkPending({ ...at('50'), pending_last_seq: null })).toBe('tampered');
    expect(mac.checkPending({ ...at(null), pending_last_seq: '50' })).toBe('tampered');
    expect(mac.checkPending({ ...at(null), pending_last_seq: '0' })).toBe('tampered');
    expect(mac.checkPending({ ...at('50'), last_seq: '43' })).toBe('tampered');
    // The position's own MAC does not pass for the bound's.
    expect(mac.checkPending({ ...at(null), pending_mac: mac.sign('42', '57') })).toBe('tampered');
  });

  it('should take a row without a pending MAC as the upgrade left it, and one signed with the previous secret', () => {
    expect(mac.checkPending({ ...at('50'), pending_mac: null })).toBe('legacy');
    const OLD = 'cursor-mac-spec-old-secret-987654';
    const old = { ...at('50'), pending_mac: new StreamCursorMac(OLD).signPending('42', '57', '50') };
    expect(new StreamCursorMac(SECRET, OLD).checkPending(old)).toBe('previous');
    expect(mac.checkPending(old)).toBe('tampered');
  });
});
