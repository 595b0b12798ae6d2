import { anchorProblem, type RetentionRecord } from './audit-retention-proof.js';

/** A `proof` the runtime role wrote itself (it may insert any audit event): never a throw, never trusted. */
describe('anchorProblem with proofs of any shape', () => {
  const anchor = { first_seq: '6', prev_hash: 'a'.repeat(64) };
  const details = (proof: unknown) => ({ anchor_first_seq: '6', anchor_prev_hash: 'a'.repeat(64), proof });
  const trust = { keyFor: () => undefined, trusting: true };

  it.each([
    ['a number', 42],
    ['an object', { alg: 'none' }],
    ['not a JWS', 'garbage'],
    ['three empty parts', '..'],
    ['NUL and a lone surrogate', 'a\u0000.b\ud800.c'],
    ['a megabyte', 'e'.repeat(1024 * 1024)],
    ['a header naming no key', `${Buffer.from('{"alg":"EdDSA"}').toString('base64url')}.e30.sig`],
  ])('should report the anchor as unproven for a proof that is %s', async (_name, proof) => {
    const records: RetentionRecord[] = [
      { type: 'audit.retention_signed', details: details(proof), hash: 'h'.repeat(64) },
      { type: 'audit.retention_applied', details: details(undefined), hash: 'h'.repeat(64) },
    ];
    await expect(anchorProblem(anchor, records, trust)).resolves.toMatchObject({ seq: '6', kind: 'anchor_unproven' });
  });

  it('should report details that are not an object, or null, as unexplained, without throwing', async () => {
    const records: RetentionRecord[] = [
      { type: 'audit.retention_signed', details: 'text', hash: null },
      { type: 'audit.retention_applied', details: null, hash: 'h'.repeat(64) },
    ];
    await expect(anchorProblem(anchor, records, trust)).resolves.toMatchObject({ kind: 'anchor_unexplained' });
  });
});
