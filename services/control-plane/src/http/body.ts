import { exceedsJsonDepth, MAX_JSON_DEPTH } from '@toolplane/contracts';
import { ValidationError } from '@toolplane/errors';
import express, { type RequestHandler } from 'express';

/**
 * A JSON request body: at most `limit` bytes and MAX_JSON_DEPTH levels of nesting (validators
 * recurse, so a deeper body is refused with 422 before any of them runs).
 */
export function jsonBody(limit: number): RequestHandler[] {
  return [
    express.json({ limit }),
    (req, _res, next) => {
      if (exceedsJsonDepth(req.body, MAX_JSON_DEPTH))
        throw new ValidationError(
          'the request body nests too deeply',
          [{ path: '', message: `objects and arrays may nest at most ${MAX_JSON_DEPTH} levels` }],
          'request.invalid',
          422,
        );
      next();
    },
  ];
}
