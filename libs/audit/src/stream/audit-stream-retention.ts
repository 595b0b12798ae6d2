import type { AuditStreamConfig } from '@app/config';
import type { LoggerService } from '@nestjs/common';
import type { AuditStreamRepository } from './audit-stream.repository.js';
import { StreamCursorMac } from './stream-cursor-mac.js';

/**
 * Retention's cutoff: `periodMs` before `now`, but with the SIEM stream on never past an event the
 * stream has not delivered (the README promises "nothing lost"; a SIEM outage longer than the
 * retention period would otherwise lose events silently): then it is when the first undelivered
 * event happened, with a warning. audit_apply_retention() removes only a prefix of sealed events
 * that are all older than its cutoff (and accepts any cutoff older than the period), so that
 * event and every later one stay. The cursor counts only with the sender's MAC: the runtime role
 * can move it forward, and then the position the sender resumes from counts instead.
 */
export async function undeliveredCutoff(
  config: AuditStreamConfig,
  repository: Pick<AuditStreamRepository, 'cursor' | 'firstUndeliveredAt'>,
  logger: Pick<LoggerService, 'warn'>,
  now: Date,
  periodMs: number,
): Promise<Date> {
  const due = new Date(now.getTime() - periodMs);
  if (config.url === '') return due;
  const cursor = await repository.cursor();
  let after = '0';
  if (cursor) {
    const check = new StreamCursorMac(config.secret, config.previousSecret).check(cursor);
    after = check.verdict === 'tampered' ? check.resumeAfterSeq : cursor.last_seq;
  }
  const first = await repository.firstUndeliveredAt(after);
  if (!first || first >= due) return due;
  logger.warn(
    `audit retention held back: the SIEM stream has not delivered the events sealed after seq ${after} yet ` +
      `(the first happened at ${first.toISOString()}); they are kept until it has ` +
      `(cutoff ${first.toISOString()} instead of ${due.toISOString()})`,
  );
  return first;
}
