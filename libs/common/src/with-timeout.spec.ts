import { jest } from '@jest/globals';
import { withTimeout } from './with-timeout.js';

describe('withTimeout', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('should answer with the work and leave no timer behind', async () => {
    await expect(withTimeout(Promise.resolve('ok'), 1500)).resolves.toBe('ok');
    expect(jest.getTimerCount()).toBe(0);
  });

  it('should pass a failure of the work through and leave no timer behind', async () => {
    await expect(withTimeout(Promise.reject(new Error('boom')), 1500)).rejects.toThrow('boom');
    expect(jest.getTimerCount()).toBe(0);
  });

  it('should reject once the time is up when the work does not answer', async () => {
    const pending = withTimeout(new Promise<never>(() => undefined), 1500);
    const outcome = expect(pending).rejects.toThrow('no answer within 1500 ms');
    jest.advanceTimersByTime(1499);
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(1);
    await outcome;
  });
});
