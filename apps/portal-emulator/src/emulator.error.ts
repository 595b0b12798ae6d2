/** What went wrong in the emulated portal; each API surface renders a kind in its own error shape. */
export type EmulatorErrorKind = 'malformed' | 'unauthorised' | 'refused' | 'not-found' | 'invalid';

export class EmulatorError extends Error {
  constructor(
    readonly kind: EmulatorErrorKind,
    message: string,
  ) {
    super(message);
  }
}
