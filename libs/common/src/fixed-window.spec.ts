import { FixedWindowCounter } from './fixed-window.js';

describe('FixedWindowCounter', () => {
  it('should count per key within a window and start again in the next one', () => {
    const counter = new FixedWindowCounter(60_000);
    expect(counter.hit('a', 0)).toBe(1);
    expect(counter.hit('a', 1_000)).toBe(2);
    expect(counter.hit('b', 1_000)).toBe(1);
    expect(counter.count('a', 59_999)).toBe(2);
    expect(counter.retryAfterSeconds('a', 30_000)).toBe(30);
    expect(counter.count('a', 60_000)).toBe(0);
    expect(counter.hit('a', 60_000)).toBe(1);
  });

  it("should forget only the least recently seen client past its bound, not everyone's count", () => {
    const counter = new FixedWindowCounter(60_000, 3);
    for (let i = 0; i < 5; i++) counter.hit('busy', 0);
    counter.hit('x', 1);
    counter.hit('y', 2);
    counter.hit('busy', 3); // most recent again
    counter.hit('z', 4); // a fourth client: 'x', the least recently seen, is forgotten
    expect(counter.count('busy', 5)).toBe(6);
    expect(counter.count('x', 5)).toBe(0);
    expect(counter.count('y', 5)).toBe(1);
    expect(counter.count('z', 5)).toBe(1);
  });
});
