import net from 'node:net';
import { ephemeralPortsStart, freePort } from './embedded-postgres.js';

describe('freePort', () => {
  it('should give a port that can be listened on, below the range the kernel hands out on its own', async () => {
    const start = ephemeralPortsStart();
    const ports = await Promise.all(Array.from({ length: 5 }, () => freePort()));
    for (const port of ports) {
      if (start !== null && start > 11_024) {
        expect(port).toBeLessThan(start);
        expect(port).toBeGreaterThanOrEqual(start - 10_000);
      }
      await new Promise<void>((resolve, reject) => {
        const srv = net.createServer();
        srv.once('error', reject);
        srv.listen(port, '127.0.0.1', () => srv.close(() => resolve()));
      });
    }
  });

  it('should read where the ephemeral range starts on Linux', () => {
    const start = ephemeralPortsStart();
    if (process.platform === 'linux') expect(start).toEqual(expect.any(Number));
    else expect(start).toBeNull();
  });
});
