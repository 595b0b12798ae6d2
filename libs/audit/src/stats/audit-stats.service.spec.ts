import type { AuditStatsRepository, HourlySignIns } from './audit-stats.repository.js';
import { AuditStatsService } from './audit-stats.service.js';

const H = 3_600_000;

describe('AuditStatsService.overview', () => {
  function setup(retentionDays = 0) {
    const calls: [string, string][] = [];
    const rows: HourlySignIns[] = [];
    const repository = {
      hourly: (since: Date, until: Date) => {
        calls.push([since.toISOString(), until.toISOString()]);
        return Promise.resolve(
          rows.filter((r) => Date.parse(r.hour) >= since.getTime() && Date.parse(r.hour) < until.getTime()),
        );
      },
      topFailing: () => Promise.resolve([]),
    } as unknown as AuditStatsRepository;
    return { calls, rows, service: new AuditStatsService(repository, { retentionDays }) };
  }

  it('should count 7 × 24 hours, succeeded and failed by reason, and read closed hours only once', async () => {
    const { calls, rows, service } = setup();
    const now = new Date('2026-12-06T10:30:00Z');
    rows.push(
      { hour: '2026-12-06T10:00:00Z', outcome: 'success', reason: null, count: 4 },
      { hour: '2026-12-06T08:00:00Z', outcome: 'failure', reason: 'state_invalid', count: 2 },
      { hour: '2026-12-01T08:00:00Z', outcome: 'failure', reason: 'idp_error', count: 1 },
    );
    const first = await service.overview(7, now);
    expect(first.hours).toHaveLength(168);
    expect(first.until).toBe('2026-12-06T11:00:00.000Z');
    expect(first.totals).toEqual({ succeeded: 4, failed: 3 });
    expect(first.hours.find((h) => h.hour === '2026-12-06T08:00:00.000Z')?.failed).toEqual({ state_invalid: 2 });
    expect(calls).toHaveLength(2);

    // A new event in a closed, cached hour is not re-read; the open hour is.
    calls.length = 0;
    rows.push({ hour: '2026-12-06T10:00:00Z', outcome: 'failure', reason: 'nonce_mismatch', count: 1 });
    const second = await service.overview(7, new Date(now.getTime() + 60_000));
    expect(calls).toEqual([['2026-12-06T10:00:00.000Z', '2026-12-06T11:00:00.000Z']]);
    expect(second.totals).toEqual({ succeeded: 4, failed: 4 });

    // An hour later the previous hour closes (after settling) and is read once more, alone.
    calls.length = 0;
    await service.overview(7, new Date(now.getTime() + H));
    expect(calls[0]).toEqual(['2026-12-06T10:00:00.000Z', '2026-12-06T11:00:00.000Z']);
  });

  it('should not cache the hours retention can still remove when retention reaches into the window', async () => {
    const { calls, rows, service } = setup(3);
    const now = new Date('2026-12-06T10:30:00Z');
    rows.push(
      { hour: '2026-12-02T08:00:00Z', outcome: 'failure', reason: 'idp_error', count: 5 },
      { hour: '2026-12-05T08:00:00Z', outcome: 'success', reason: null, count: 2 },
    );
    expect((await service.overview(7, now)).totals).toEqual({ succeeded: 2, failed: 5 });
    // Retention (on any instance) removes the old hour: the next view must not show it.
    rows.splice(0, 1);
    calls.length = 0;
    const after = await service.overview(7, new Date(now.getTime() + 60_000));
    expect(after.totals).toEqual({ succeeded: 2, failed: 0 });
    // The hours before the cutoff (+1 h) are read live; the rest stay cached.
    expect(calls[0]).toEqual(['2026-11-29T11:00:00.000Z', '2026-12-03T12:00:00.000Z']);
  });
});
