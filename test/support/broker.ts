import { Writable } from 'node:stream';
import type { BrokerConfig } from '@app/config';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { createBrokerApp } from '../../apps/broker/src/bootstrap.js';

export { testConfig, testSlices } from './config.js';

/** Collects every log line the app writes, for assertions (e.g. that no secret is logged). */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    cb();
  }
  text(): string {
    return this.lines.join('\n');
  }
}

export interface TestBroker {
  app: NestExpressApplication;
  url: string;
  logs: LogCapture;
  config: BrokerConfig;
  close(): Promise<void>;
}

/** Boots the real broker app (same pipes, filters and limits as production) on a free port. */
export async function startTestBroker(config: BrokerConfig, port = 0): Promise<TestBroker> {
  const logs = new LogCapture();
  const app = await createBrokerApp(config, { logStream: logs });
  await app.listen(port, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  return { app, url: `http://127.0.0.1:${address.port}`, logs, config, close: () => app.close() };
}
