/**
 * One line of the setup doctor's report. `fail` stops a login or is unsafe (the CLI exits non-zero);
 * `warn` is a deliberate risk or a degraded answer; `skip` could not be checked (says why).
 */
export interface DoctorItem {
  check: string;
  status: 'pass' | 'fail' | 'warn' | 'skip';
  detail: string;
  /** What to change, for fail and warn. */
  fix?: string;
}

export interface DoctorReport {
  profileId: string;
  ok: boolean;
  items: DoctorItem[];
}

export const pass = (check: string, detail: string): DoctorItem => ({ check, status: 'pass', detail });
export const fail = (check: string, detail: string, fix: string): DoctorItem => ({
  check,
  status: 'fail',
  detail,
  fix,
});
export const warn = (check: string, detail: string, fix: string): DoctorItem => ({
  check,
  status: 'warn',
  detail,
  fix,
});
export const skip = (check: string, detail: string): DoctorItem => ({ check, status: 'skip', detail });

export function report(profileId: string, items: DoctorItem[]): DoctorReport {
  return { profileId, ok: !items.some((i) => i.status === 'fail'), items };
}

const MARK: Record<DoctorItem['status'], string> = { pass: '✓', fail: '✗', warn: '!', skip: '-' };

/** The report as the CLI prints it: one line per item, the fix indented under it. */
export function renderReport(r: DoctorReport): string {
  const lines = [`Profile ${r.profileId}: ${r.ok ? 'ready' : 'NOT ready'}`];
  for (const item of r.items) {
    lines.push(`  ${MARK[item.status]} ${item.check}: ${item.detail}`);
    if (item.fix) lines.push(`      fix: ${item.fix}`);
  }
  return `${lines.join('\n')}\n`;
}
