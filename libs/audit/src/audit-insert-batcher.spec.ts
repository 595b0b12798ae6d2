import { jest } from '@jest/globals';
import { InsertBatcher, type InsertBatcherOptions } from './audit-insert-batcher.js';

/** A statement the test finishes by hand: its input, and resolve/reject for its answer. */
interface Call {
  kind: 'one' | 'many';
  params: unknown[] | unknown[][];
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

function harness(maxInFlight = 1, maxBatch = 64, stalled: Partial<InsertBatcherOptions> = {}) {
  const calls: Call[] = [];
  const statement =
    (kind: Call['kind']) =>
    (params: unknown[] | unknown[][]): Promise<never> =>
      new Promise((resolve, reject) => calls.push({ kind, params, resolve: resolve as Call['resolve'], reject }));
  const batcher = new InsertBatcher<unknown[]>(statement('one'), statement('many'), {
    maxInFlight,
    maxBatch,
    ...stalled,
  });
  return { calls, batcher };
}

const flush = () => new Promise((r) => setImmediate(r));
const settled = <T>(p: Promise<T>) =>
  p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );

describe('InsertBatcher (group commit for events recorded on their own)', () => {
  it('should send an event alone at once when nothing is in flight', async () => {
    const { calls, batcher } = harness();
    const a = batcher.add(['a']);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ kind: 'one', params: ['a'] });
    calls[0].resolve({ id: '1' });
    await expect(a).resolves.toEqual({ id: '1' });
  });

  it('should send the events recorded during a flight together, in order, and give each its own id', async () => {
    const { calls, batcher } = harness();
    const a = batcher.add(['a']);
    const b = batcher.add(['b']);
    const c = batcher.add(['c']);
    expect(calls).toHaveLength(1); // b and c wait for a's commit
    calls[0].resolve({ id: '1' });
    await flush();
    expect(calls).toHaveLength(2);
    expect(calls[1]).toMatchObject({ kind: 'many', params: [['b'], ['c']] });
    calls[1].resolve([{ id: '2' }, { id: '3' }]);
    await expect(Promise.all([a, b, c])).resolves.toEqual([{ id: '1' }, { id: '2' }, { id: '3' }]);
  });

  it('should not settle an event before the statement that holds it', async () => {
    const { calls, batcher } = harness();
    void batcher.add(['a']);
    let done = false;
    void batcher.add(['b']).then(() => (done = true));
    calls[0].resolve({ id: '1' });
    await flush();
    expect(done).toBe(false);
    calls[1].resolve({ id: '2' });
    await flush();
    expect(done).toBe(true);
  });

  it('should keep at most maxInFlight statements and maxBatch events per statement', async () => {
    const { calls, batcher } = harness(2, 3);
    const all = Array.from({ length: 9 }, (_, i) => batcher.add([i]));
    expect(calls.map((c) => c.kind)).toEqual(['one', 'one']);
    calls[0].resolve({ id: '0' });
    await flush();
    expect(calls).toHaveLength(3);
    expect(calls[2].params).toEqual([[2], [3], [4]]);
    calls[1].resolve({ id: '1' });
    await flush();
    expect(calls[3].params).toEqual([[5], [6], [7]]);
    calls[2].resolve([{ id: '2' }, { id: '3' }, { id: '4' }]);
    await flush();
    expect(calls[4]).toMatchObject({ kind: 'one', params: [8] });
    calls[3].resolve([{ id: '5' }, { id: '6' }, { id: '7' }]);
    calls[4].resolve({ id: '8' });
    await expect(Promise.all(all)).resolves.toEqual(Array.from({ length: 9 }, (_, i) => ({ id: String(i) })));
  });

  it("should try each event of a batch on its own when Postgres refuses one event's values", async () => {
    const { calls, batcher } = harness();
    void batcher.add(['first']);
    const good = batcher.add(['good']);
    const bad = batcher.add(['bad']);
    calls[0].resolve({ id: '1' });
    await flush();
    calls[1].reject(Object.assign(new Error('invalid input syntax for type json'), { code: '22P02' }));
    await flush();
    // One after another, in the lane: a refused batch of 64 must not take the whole pool at once.
    expect(calls.slice(2).map((c) => [c.kind, c.params])).toEqual([['one', ['good']]]);
    calls[2].resolve({ id: '2' });
    await flush();
    expect(calls.slice(3).map((c) => [c.kind, c.params])).toEqual([['one', ['bad']]]);
    calls[3].reject(Object.assign(new Error('invalid input syntax for type json'), { code: '22P02' }));
    await expect(good).resolves.toEqual({ id: '2' });
    await expect(bad).rejects.toMatchObject({ code: '22P02' });
  });

  it('should fail every event of a batch, without retrying, when the database or connection fails', async () => {
    const { calls, batcher } = harness();
    void batcher.add(['first']);
    const b = settled(batcher.add(['b']));
    const c = settled(batcher.add(['c']));
    calls[0].resolve({ id: '1' });
    await flush();
    const lost = new Error('Connection terminated unexpectedly');
    calls[1].reject(lost);
    expect(await b).toEqual({ error: lost });
    expect(await c).toEqual({ error: lost });
    expect(calls).toHaveLength(2); // no retry: the commit may have happened
  });

  it('should fail the batch when the ids returned do not match the events', async () => {
    const { calls, batcher } = harness();
    void batcher.add(['first']);
    const b = settled(batcher.add(['b']));
    const c = settled(batcher.add(['c']));
    calls[0].resolve({ id: '1' });
    await flush();
    calls[1].resolve([{ id: '2' }]);
    expect(await b).toMatchObject({ error: { message: 'audit: a batch of 2 events returned 1 ids' } });
    expect(await c).toMatchObject({ error: { message: 'audit: a batch of 2 events returned 1 ids' } });
  });

  it('should go on with the next batch after a failed one, and report drained when all are settled', async () => {
    const { calls, batcher } = harness();
    const a = settled(batcher.add(['a']));
    const b = settled(batcher.add(['b']));
    let drained = false;
    void batcher.drained().then(() => (drained = true));
    calls[0].reject(new Error('down'));
    await flush();
    expect(drained).toBe(false);
    expect(calls[1]).toMatchObject({ kind: 'one', params: ['b'] });
    calls[1].resolve({ id: '9' });
    expect(await a).toMatchObject({ error: { message: 'down' } });
    expect(await b).toEqual({ value: { id: '9' } });
    await flush();
    expect(drained).toBe(true);
    await expect(batcher.drained()).resolves.toBeUndefined();
  });

  describe('a stuck statement', () => {
    beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
    afterEach(() => jest.useRealTimers());

    it('should open another lane for the waiting events once the one in flight is stuck, up to the limit', async () => {
      const { calls, batcher } = harness(1, 64, { stalledAfterMs: 100, maxStalledLanes: 1 });
      void batcher.add(['stuck']);
      void batcher.add(['b']);
      jest.advanceTimersByTime(50);
      void batcher.add(['c']);
      expect(calls).toHaveLength(1); // 50 ms is a slow commit, not a stuck one
      jest.advanceTimersByTime(60); // the waiting events go in a second lane, no new event needed
      expect(calls).toHaveLength(2);
      expect(calls[1]).toMatchObject({ kind: 'many', params: [['b'], ['c']] });
      jest.advanceTimersByTime(500);
      void batcher.add(['d']);
      jest.advanceTimersByTime(500);
      expect(calls).toHaveLength(2); // both lanes stuck, no third: d waits
      calls[1].resolve([{ id: '2' }, { id: '3' }]);
      await Promise.resolve();
      await Promise.resolve();
      expect(calls).toHaveLength(3);
      expect(calls[2]).toMatchObject({ kind: 'one', params: ['d'] });
    });

    it('should keep one lane when no stuck limit is set', () => {
      const { calls, batcher } = harness(1, 64);
      void batcher.add(['slow']);
      void batcher.add(['b']);
      jest.advanceTimersByTime(60_000);
      void batcher.add(['c']);
      expect(calls).toHaveLength(1);
    });
  });
});
