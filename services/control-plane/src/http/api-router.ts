import { Router } from 'express';

/**
 * A router of the management API: paths are case-sensitive and strict (`/Deploy` and `/deploy/` are no route of
 * `/deploy`), so that a request reaches a handler only through the path its operation documents.
 */
export function apiRouter(opts: { mergeParams?: boolean } = {}): Router {
  return Router({ caseSensitive: true, strict: true, ...opts });
}
