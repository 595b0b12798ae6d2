/** What a login route answers; the controller writes it. */
export type LoginOutcome =
  | { kind: 'redirect'; status: 301 | 302 | 303; location: string }
  | { kind: 'page'; status: number; html: string }
  | { kind: 'json'; status: number; body: unknown }
  | { kind: 'text'; status: number; text: string };
