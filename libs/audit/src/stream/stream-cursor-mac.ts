import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/** The cursor fields the MAC covers and the upgrade snapshot it is checked against. */
export interface SignedCursorFields {
  last_seq: string;
  last_event_id: string | null;
  /** HMAC written by the sender; null before this version first signed the row. */
  mac: string | null;
  /** The position the migration found (kept by the owner's trigger until a MAC is written). */
  unsigned_seq: string | null;
  unsigned_event_id: string | null;
}

/** The retry bound of a failed batch and its MAC (migration 1797000017500). */
export interface PendingCursorFields {
  last_seq: string;
  last_event_id: string | null;
  pending_last_seq: string | null;
  /** Null before this version first wrote the row. */
  pending_mac: string | null;
}

/**
 * `valid`: the sender wrote this position. `previous`: the sender wrote it with the secret before
 * a rotation (BROKER_AUDIT_STREAM_SECRET_PREVIOUS), taken over and re-signed. `legacy`: the
 * unsigned position the previous version left at the upgrade, accepted once and signed.
 * `tampered`: someone else wrote it (`why` says how).
 */
export type CursorCheck =
  | { verdict: 'valid' }
  | { verdict: 'previous' }
  | { verdict: 'legacy' }
  | {
      verdict: 'tampered';
      why: 'cursor_signature_invalid' | 'cursor_unsigned' | 'cursor_rolled_back';
      resumeAfterSeq: string;
      resumeAfterEventId: string | null;
    };

/**
 * Authenticates the SIEM stream's cursor: HMAC-SHA-256 over (last_seq, last_event_id) with a key
 * derived by HKDF-SHA-256 from BROKER_AUDIT_STREAM_SECRET, which is always set when the stream is
 * on, is the same on every replica, and is not in the database. The runtime database role can
 * still write the row, but not a MAC for a position the sender never wrote. It can copy back an
 * older signed row: the MAC cannot tell, AuditStreamService does (each process keeps the highest
 * signed position it has seen or written, and treats a lower one as tampering).
 */
export class StreamCursorMac {
  private readonly key: Buffer;
  private readonly previousKey: Buffer | null;

  /** `previousSecret`: the secret before a rotation, whose cursors are taken over ('' for none). */
  constructor(streamSecret: string, previousSecret = '') {
    this.key = cursorKey(streamSecret);
    this.previousKey = previousSecret === '' ? null : cursorKey(previousSecret);
  }

  sign(lastSeq: string, lastEventId: string | null): string {
    return macWith(this.key, lastSeq, lastEventId);
  }

  /**
   * The MAC over the retry bound of a failed batch (`pending_last_seq`, null for none) at the
   * position it was written with: the runtime role cannot sign a bound of its own. It can copy
   * back the "none" signed at a delivery over a bound signed later at the same position, which
   * only AuditStreamService can tell (a process that knows the bound).
   */
  signPending(lastSeq: string, lastEventId: string | null, pendingLastSeq: string | null): string {
    return pendingMacWith(this.key, lastSeq, lastEventId, pendingLastSeq);
  }

  /**
   * `valid` (or `previous`: written with the secret before a rotation), `legacy` (no pending MAC
   * yet: the row as the upgrade left it, the bound taken as found once) or `tampered`.
   */
  checkPending(cursor: PendingCursorFields): 'valid' | 'previous' | 'legacy' | 'tampered' {
    if (cursor.pending_mac === null) return 'legacy';
    const { last_seq, last_event_id, pending_last_seq } = cursor;
    if (sameMac(cursor.pending_mac, this.signPending(last_seq, last_event_id, pending_last_seq))) return 'valid';
    if (
      this.previousKey &&
      sameMac(cursor.pending_mac, pendingMacWith(this.previousKey, last_seq, last_event_id, pending_last_seq))
    ) {
      return 'previous';
    }
    return 'tampered';
  }

  check(cursor: SignedCursorFields): CursorCheck {
    if (cursor.mac !== null) {
      if (sameMac(cursor.mac, this.sign(cursor.last_seq, cursor.last_event_id))) return { verdict: 'valid' };
      if (this.previousKey && sameMac(cursor.mac, macWith(this.previousKey, cursor.last_seq, cursor.last_event_id))) {
        return { verdict: 'previous' };
      }
    } else if (
      cursor.unsigned_seq !== null &&
      BigInt(cursor.unsigned_seq) === BigInt(cursor.last_seq) &&
      cursor.unsigned_event_id === cursor.last_event_id
    ) {
      return { verdict: 'legacy' };
    }
    // The only position vouched for is the upgrade snapshot (while it is still there), else the
    // start; never past the cursor as found (resending more is safe, skipping is not).
    const found = BigInt(cursor.last_seq);
    const trusted = cursor.mac === null && cursor.unsigned_seq !== null ? BigInt(cursor.unsigned_seq) : 0n;
    const [resumeAfterSeq, resumeAfterEventId] =
      trusted === 0n
        ? ['0', null]
        : found < trusted
          ? [cursor.last_seq, cursor.last_event_id]
          : [cursor.unsigned_seq!, cursor.unsigned_event_id];
    return {
      verdict: 'tampered',
      why: cursor.mac === null ? 'cursor_unsigned' : 'cursor_signature_invalid',
      resumeAfterSeq: BigInt(resumeAfterSeq).toString(),
      resumeAfterEventId,
    };
  }
}

function cursorKey(secret: string): Buffer {
  return Buffer.from(
    hkdfSync('sha256', Buffer.from(secret, 'utf8'), 'portal-sso-broker', 'portal-sso-broker/audit-stream-cursor', 32),
  );
}

function macWith(key: Buffer, lastSeq: string, lastEventId: string | null): string {
  return createHmac('sha256', key)
    .update(`audit-stream-cursor/v1\n${BigInt(lastSeq).toString()}\n${lastEventId ?? ''}`)
    .digest('base64url');
}

function pendingMacWith(key: Buffer, lastSeq: string, lastEventId: string | null, pending: string | null): string {
  return createHmac('sha256', key)
    .update(
      `audit-stream-pending/v1\n${BigInt(lastSeq).toString()}\n${lastEventId ?? ''}\n${pending === null ? 'none' : BigInt(pending).toString()}`,
    )
    .digest('base64url');
}

function sameMac(got: string, expected: string): boolean {
  const a = Buffer.from(got);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
