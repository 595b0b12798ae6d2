import { closeSync, openSync, readSync } from 'node:fs';

/** A key file (PEM, JWK or JWKS) is a few kilobytes: anything larger is not one. */
export const MAX_KEY_FILE_BYTES = 1024 * 1024;
/** A checkpoint file is about a kilobyte. */
export const MAX_CHECKPOINT_FILE_BYTES = 64 * 1024;

/**
 * The text of `file` when it holds at most `maxBytes` bytes; an error naming the file otherwise. It
 * reads at most `maxBytes + 1` bytes, so a wrong path (a log file, a disk image, `/dev/zero`) costs
 * a clear error instead of the memory and the time of reading it whole.
 */
export function readSmallText(file: string, maxBytes: number): string {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(maxBytes + 1);
    let n = 0;
    while (n < buf.length) {
      const read = readSync(fd, buf, n, buf.length - n, null);
      if (read === 0) break;
      n += read;
    }
    if (n > maxBytes) throw new Error(`${file} is larger than ${maxBytes} bytes`);
    return buf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}
