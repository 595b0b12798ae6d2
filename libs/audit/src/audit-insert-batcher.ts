/** One event waiting for its insert: its parameters (insertParams) and its caller's promise. */
interface Pending<P> {
  params: P;
  resolve: (row: { id: string }) => void;
  reject: (error: unknown) => void;
}

export interface InsertBatcherOptions {
  /** Statements in flight at once; the events recorded meanwhile wait for the next one. */
  maxInFlight: number;
  /** Most events in one statement. */
  maxBatch: number;
  /**
   * A statement in flight longer than this is taken as stuck (a half-dead connection waits for its
   * query timeout): one more lane opens for the events waiting, up to `maxStalledLanes` more, so
   * one slow statement does not hold every login for seconds.
   */
  stalledAfterMs?: number;
  maxStalledLanes?: number;
}

/**
 * An error that belongs to one event's values (Postgres refused the data: SQLSTATE class 22 data
 * exception, 23 integrity constraint, P0 a trigger's RAISE, 54 a limit), not to the database or
 * the connection. The whole statement was rolled back, so each event can be tried on its own.
 */
function refusedData(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(22|23|P0|54)/.test(code);
}

/**
 * Group commit for the audit events written on their own (every login's, issue 19): an event
 * recorded while `maxInFlight` inserts are in flight waits, and all those waiting then go in one
 * statement with one commit (`many`). Nothing waits on a timer: at low load every event is its
 * own insert (`one`) at once, as before; under load the statements carry more events each, and
 * Postgres pays the statement and its durable commit (about 0.2 ms of its CPU) once per batch.
 * Each caller's promise settles only after the commit that holds its event, so a login is still
 * answered only once its event is durable. When Postgres refuses a batch for one event's values,
 * every event of it is tried on its own, so one bad event never costs the others theirs.
 */
export class InsertBatcher<P> {
  private queue: Pending<P>[] = [];
  /** When each statement in flight started (its lane's key). */
  private readonly lanes = new Set<{ started: number }>();
  private idle: (() => void)[] = [];
  /** A check for a stuck lane while events wait (none is needed while events keep arriving). */
  private stallCheck: NodeJS.Timeout | null = null;

  constructor(
    private readonly one: (params: P) => Promise<{ id: string }>,
    private readonly many: (params: P[]) => Promise<{ id: string }[]>,
    private readonly options: InsertBatcherOptions,
  ) {}

  /** Inserts one event (in a batch when others are waiting); resolves after its commit. */
  add(params: P): Promise<{ id: string }> {
    return new Promise((resolve, reject) => {
      this.queue.push({ params, resolve, reject });
      this.pump();
    });
  }

  /** Resolves once every event added so far is committed or refused. */
  drained(): Promise<void> {
    if (this.lanes.size === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private pump(): void {
    while (this.queue.length > 0 && this.laneFree()) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      const lane = { started: Date.now() };
      this.lanes.add(lane);
      void this.send(batch).finally(() => {
        this.lanes.delete(lane);
        this.pump();
        if (this.lanes.size === 0 && this.queue.length === 0) for (const done of this.idle.splice(0)) done();
      });
    }
    const { stalledAfterMs } = this.options;
    if (this.queue.length > 0 && stalledAfterMs !== undefined && this.stallCheck === null) {
      this.stallCheck = setTimeout(() => {
        this.stallCheck = null;
        this.pump();
      }, stalledAfterMs);
      this.stallCheck.unref();
    }
  }

  /** Below maxInFlight; or every lane in flight is stuck and a stalled lane is left. */
  private laneFree(): boolean {
    if (this.lanes.size < this.options.maxInFlight) return true;
    const { stalledAfterMs, maxStalledLanes = 0 } = this.options;
    if (stalledAfterMs === undefined || this.lanes.size >= this.options.maxInFlight + maxStalledLanes) return false;
    const now = Date.now();
    for (const lane of this.lanes) if (now - lane.started < stalledAfterMs) return false;
    return true;
  }

  /** Never rejects: every event's own promise carries its outcome. */
  private async send(batch: Pending<P>[]): Promise<void> {
    if (batch.length === 1) return this.sendOne(batch[0]);
    let rows: { id: string }[];
    try {
      rows = await this.many(batch.map((p) => p.params));
    } catch (error) {
      // One after another, in this lane: a refused batch must not take the whole pool at once.
      if (refusedData(error)) for (const p of batch) await this.sendOne(p);
      else for (const p of batch) p.reject(error);
      return;
    }
    if (rows.length !== batch.length) {
      const error = new Error(`audit: a batch of ${batch.length} events returned ${rows.length} ids`);
      for (const p of batch) p.reject(error);
      return;
    }
    batch.forEach((p, i) => p.resolve(rows[i]));
  }

  private async sendOne(p: Pending<P>): Promise<void> {
    try {
      p.resolve(await this.one(p.params));
    } catch (error) {
      p.reject(error);
    }
  }
}
