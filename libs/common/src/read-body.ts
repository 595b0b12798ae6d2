/**
 * Reads an HTTP response body (any async iterable of Buffers, e.g. undici's `res.body`) as UTF-8
 * text, or returns undefined when it is larger than `limit` bytes; the rest is then discarded
 * (`destroy`), so a hostile or broken peer cannot make us buffer without bound.
 */
export async function readBodyText(
  body: AsyncIterable<Buffer> & { destroy(): unknown },
  limit: number,
): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8');
}
