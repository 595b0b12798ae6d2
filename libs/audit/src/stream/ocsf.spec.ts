import { ocsfViolations } from '@test/support/ocsf-classes.js';
import { AUDIT_EVENT_TYPES, type AuditEventType } from '../audit-event.js';
import type { AuditEventRecord } from '../audit-record.js';
import { toOcsf } from './ocsf.js';

function record(type: AuditEventType, over: Partial<AuditEventRecord> = {}): AuditEventRecord {
  return {
    id: '42',
    occurred_at: '2026-12-06T10:00:00.123456Z',
    type,
    outcome: 'success',
    reason: null,
    actor: 'system',
    target: null,
    profile_id: null,
    developer_id: null,
    organisation_id: null,
    ip: null,
    user_agent: null,
    request_id: null,
    details: null,
    seq: '7',
    prev_id: null,
    prev_hash: null,
    hash: null,
    sealed_at: null,
    ...over,
  };
}

describe('toOcsf (OCSF 1.x mapping of audit events)', () => {
  it.each(AUDIT_EVENT_TYPES.map((t) => [t]))('should produce a valid OCSF event for %s, bare and full', (type) => {
    const bare = toOcsf(record(type));
    expect(ocsfViolations(bare)).toEqual([]);
    const full = toOcsf(
      record(type, {
        outcome: 'failure',
        reason: 'state_invalid',
        actor: 'developer:00000000-0000-4000-8000-000000000001',
        developer_id: '00000000-0000-4000-8000-000000000001',
        target: 'profile:p1',
        profile_id: 'p1',
        organisation_id: 'org-1',
        ip: '203.0.113.7',
        user_agent: 'Mozilla/5.0',
        request_id: 'req-1',
        details: { n: 1 },
      }),
    );
    expect(ocsfViolations(full)).toEqual([]);
  });

  it('should map logins to Authentication, developer status to Account Change, admin changes to API Activity', () => {
    const cls = (type: AuditEventType) => {
      const e = toOcsf(record(type));
      return [e.class_uid, e.activity_id];
    };
    expect(cls('login.succeeded')).toEqual([3002, 1]);
    expect(cls('login.failed')).toEqual([3002, 1]);
    expect(cls('logout')).toEqual([3002, 2]);
    expect(cls('developer.blocked')).toEqual([3001, 5]);
    expect(cls('developer.unblocked')).toEqual([3001, 2]);
    expect(cls('developer.erased')).toEqual([3001, 6]);
    expect(cls('profile.created')).toEqual([6003, 1]);
    expect(cls('profile.updated')).toEqual([6003, 3]);
    expect(cls('profile.deleted')).toEqual([6003, 4]);
    expect(cls('audit.stream_cursor_tampered')).toEqual([6003, 3]);
    expect(cls('audit.checkpoint_untrusted')).toEqual([6003, 3]);
    expect(cls('audit.checkpoints_started')).toEqual([6003, 1]);
    // Normal once per installation, so not High; but worth a rule when it comes again.
    expect(toOcsf(record('audit.checkpoints_started', { outcome: 'success' })).severity_id).toBe(3);
  });

  // What the broker records when someone with its database credentials worked against the log.
  it.each([
    [
      'audit.stream_cursor_tampered',
      'cursor_signature_invalid',
      'audit_stream_cursor',
      { found_seq: '90', resumed_after_seq: '0' },
    ],
    [
      'audit.checkpoint_untrusted',
      'checkpoint_untrusted',
      'audit_checkpoints',
      { first_seq: '26', last_seq: '30', kid: 'k', problem: 'is signed with key k' },
    ],
  ] as const)(
    'should make %s a High-severity API Activity (Update) naming what was touched',
    (type, reason, target, details) => {
      const e = toOcsf(record(type, { outcome: 'failure', reason, target, details }));
      expect(e).toMatchObject({
        class_uid: 6003,
        type_uid: 600303,
        severity_id: 4,
        status_id: 2,
        status_detail: reason,
        api: { operation: type },
        resources: [{ uid: target, type: target }],
      });
      expect(ocsfViolations(e)).toEqual([]);
    },
  );

  it('should carry the event id as metadata.uid, the outcome as status_id and the time in epoch ms', () => {
    const e = toOcsf(record('login.failed', { id: '9001', outcome: 'failure', reason: 'nonce_mismatch' }));
    expect(e.metadata).toMatchObject({ uid: '9001', version: expect.stringMatching(/^1\./), sequence: 7 });
    expect(e).toMatchObject({ status_id: 2, status_detail: 'nonce_mismatch', severity_id: 2, type_uid: 300201 });
    expect(e.time).toBe(Date.parse('2026-12-06T10:00:00.123Z'));
  });

  it('should be caught by the class checker when a required attribute or an enum value is wrong', () => {
    const e = toOcsf(record('login.succeeded'));
    expect(ocsfViolations({ ...e, user: undefined })).toContain('user: required by Authentication');
    expect(ocsfViolations({ ...e, activity_id: 17, type_uid: 300217 })).toContain(
      'activity_id: 17 is not in the Authentication enum',
    );
    expect(ocsfViolations({ ...e, severity_id: 7 })).toContain('severity_id: not in the enum');
    const api = toOcsf(record('profile.created'));
    expect(ocsfViolations({ ...api, api: { service: {} } })).toContain('api.operation: required');
    expect(ocsfViolations({ ...api, src_endpoint: {} })).toEqual([
      'src_endpoint: needs at least one of ip, uid, name, hostname, svc_name, instance_uid, interface_uid, domain',
    ]);
  });
});
