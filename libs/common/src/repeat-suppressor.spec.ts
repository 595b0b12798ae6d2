import { RepeatSuppressor } from './repeat-suppressor.js';

describe('RepeatSuppressor', () => {
  it('should let one event per key through per interval and report how many it held back', () => {
    const s = new RepeatSuppressor(10_000);
    expect(s.admit('a', 0)).toEqual({ suppressedSinceLast: 0 });
    expect(s.admit('a', 1_000)).toBeNull();
    expect(s.admit('a', 9_999)).toBeNull();
    expect(s.admit('b', 9_999)).toEqual({ suppressedSinceLast: 0 });
    expect(s.admit('a', 10_000)).toEqual({ suppressedSinceLast: 2 });
    expect(s.admit('a', 10_001)).toBeNull();
  });

  it('should forget the least recently seen key past its bound, not every key', () => {
    const s = new RepeatSuppressor(10_000, 2);
    s.admit('a', 0);
    s.admit('b', 0);
    s.admit('c', 0);
    expect(s.admit('b', 1)).toBeNull();
    expect(s.admit('a', 1)).toEqual({ suppressedSinceLast: 0 });
  });
});
