/**
 * The `Link: <…>; rel="next"` header value for the next page: the same request (path and every
 * query parameter, repeated ones included) with `cursor` replaced, under the public base URL.
 */
export function nextPageLink(originalUrl: string, publicUrl: string, cursor: string): string {
  const url = new URL(originalUrl, 'http://broker.invalid');
  url.searchParams.set('cursor', cursor);
  return `<${publicUrl.replace(/\/+$/, '')}${url.pathname}${url.search}>; rel="next"`;
}
