import type { Response } from 'express';

/** What a login route answers; the controller (or LoginFailureFilter) writes it. */
export type LoginOutcome =
  | { kind: 'redirect'; status: 301 | 302 | 303; location: string }
  | { kind: 'page'; status: number; html: string }
  | { kind: 'json'; status: number; body: unknown }
  | { kind: 'text'; status: number; text: string };

/** Writes a login outcome; never cached (it carries a one-time nonce or a failure). */
export function sendLoginOutcome(res: Response, outcome: LoginOutcome): void {
  res.setHeader('Cache-Control', 'no-store');
  switch (outcome.kind) {
    case 'redirect':
      // Location (encoded as Express does) and no body: the browser follows it. Express's own
      // redirect() also negotiates and writes an HTML/text body nobody reads, on every login.
      res.location(outcome.location).status(outcome.status).end();
      return;
    case 'page':
      res.status(outcome.status).type('html').send(outcome.html);
      return;
    case 'json':
      res.status(outcome.status).json(outcome.body);
      return;
    case 'text':
      res.status(outcome.status).type('text').send(outcome.text);
      return;
  }
}
