/** The signed cursors and the `Link` header moved to @app/common (issue 18); kept here for audit's own imports. */
export { CursorCodec, cursorInvalid, filterFingerprint, nextPageLink } from '@app/common';
