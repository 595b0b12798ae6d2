import type { ArgumentsHost } from '@nestjs/common';
import { QueryFailedError } from 'typeorm';
import { ScimExceptionFilter } from './scim-error.js';

/** A failed statement as TypeORM wraps pg's error: SQLSTATE and constraint on the driver error. */
function queryFailed(code: string, constraint?: string): QueryFailedError {
  const driverError = Object.assign(new Error('refused'), { code, constraint });
  return new QueryFailedError('INSERT INTO scim_users …', ['secret-value@acme.example'], driverError);
}

function answer(error: unknown) {
  const sent: { status?: number; body?: unknown } = {};
  const res = {
    setHeader: () => res,
    status: (s: number) => ((sent.status = s), res),
    type: () => res,
    send: (body: string) => ((sent.body = JSON.parse(body) as unknown), res),
  };
  const host = { switchToHttp: () => ({ getResponse: () => res }) } as unknown as ArgumentsHost;
  new ScimExceptionFilter().catch(error, host);
  return sent;
}

describe('ScimExceptionFilter', () => {
  it.each([
    ['UQ_scim_users_user_name', /userName exists/],
    ['UQ_scim_users_developer', /developer/],
  ])('should answer a unique violation of %s (a concurrent request won) as 409 uniqueness', (constraint, detail) => {
    const sent = answer(queryFailed('23505', constraint));
    expect(sent).toEqual({
      status: 409,
      body: expect.objectContaining({ status: '409', scimType: 'uniqueness', detail: expect.stringMatching(detail) }),
    });
    expect(JSON.stringify(sent.body)).not.toContain('secret-value');
  });

  it.each(['22021', '22P05', '22001'])('should answer a data exception (%s) as 400 invalidValue', (code) => {
    expect(answer(queryFailed(code))).toEqual({
      status: 400,
      body: expect.objectContaining({ status: '400', scimType: 'invalidValue' }),
    });
  });

  it('should still answer any other failure as a bare 500', () => {
    expect(answer(queryFailed('42P01'))).toEqual({
      status: 500,
      body: expect.objectContaining({ status: '500', detail: 'Internal error' }),
    });
    expect(answer(new Error('boom')).status).toBe(500);
  });
});
