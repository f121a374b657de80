import { describe, expect, it } from '@jest/globals';
import type { Logger } from '@toolplane/logger';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { errorHandler } from './error-handler.ts';

/** Runs the REST error boundary on one error; returns status, Retry-After and the problem. */
function answer(err: unknown): { status: number; retryAfter: string | undefined; problem: Record<string, unknown> } {
  const out = { status: 0, retryAfter: undefined as string | undefined, problem: {} as Record<string, unknown> };
  const res = {
    setHeader: (name: string, value: string) => {
      if (name === 'retry-after') out.retryAfter = value;
    },
    status(s: number) {
      out.status = s;
      return this;
    },
    type() {
      return this;
    },
    send(body: string) {
      out.problem = JSON.parse(body) as Record<string, unknown>;
      return this;
    },
  } as unknown as Response;
  const log = { error: () => undefined, warn: () => undefined } as unknown as Logger;
  errorHandler(log)(err, { method: 'GET', path: '/x' } as Request, res, () => undefined);
  return out;
}

const prismaError = (code: string, message: string, meta?: object) =>
  Object.assign(new Error(message), { name: 'PrismaClientKnownRequestError', code, meta });

describe('REST error boundary', () => {
  it('lists each unknown field of a body at its own path, with the other problems', () => {
    const Body = z.object({ name: z.string(), items: z.array(z.object({ id: z.string() }).strict()) }).strict();
    const parsed = Body.safeParse({ nmae: 'typo', items: [{ id: 'a', colour: 'red' }], extra: true });
    expect(answer(parsed.error)).toMatchObject({
      status: 422,
      problem: {
        code: 'request.invalid',
        errors: [
          { path: '/name', message: expect.any(String) },
          { path: '/items/0/colour', message: 'unknown field' },
          { path: '/nmae', message: 'unknown field' },
          { path: '/extra', message: 'unknown field' },
        ],
      },
    });
  });

  it('maps a unique-constraint violation (P2002) to 409 resource.conflict', () => {
    expect(answer(prismaError('P2002', 'Unique constraint failed'))).toMatchObject({
      status: 409,
      problem: { code: 'resource.conflict' },
    });
  });

  it('maps text PostgreSQL cannot store (NUL, 22021) to 422', () => {
    const err = prismaError(
      'P2039',
      'Database error. Code: `22021`. Message: `invalid byte sequence for encoding "UTF8": 0x00`',
    );
    expect(answer(err)).toMatchObject({ status: 422, problem: { code: 'request.invalid' } });
  });

  it('maps an unreachable Redis to 503 state.unavailable with Retry-After (not to the database code)', () => {
    for (const err of [
      Object.assign(new Error('Reached the max retries per request limit (which is 2).'), {
        name: 'MaxRetriesPerRequestError',
      }),
      new Error('Connection is closed.'),
    ]) {
      expect(answer(err)).toMatchObject({ status: 503, retryAfter: '5', problem: { code: 'state.unavailable' } });
    }
  });

  it('maps an unreachable database to 503 service.unavailable with Retry-After', () => {
    for (const err of [
      prismaError('P1001', "Can't reach database server at 127.0.0.1:5432"),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
      new Error('wrapped', { cause: Object.assign(new Error('x'), { code: '08006' }) }),
    ]) {
      expect(answer(err)).toMatchObject({ status: 503, retryAfter: '5', problem: { code: 'service.unavailable' } });
    }
  });

  it('keeps the 4xx of express and body-parser (bad % escape, unsupported encoding)', () => {
    const uri = Object.assign(new URIError("Failed to decode param '%ff'"), { status: 400 });
    expect(answer(uri)).toMatchObject({ status: 400, problem: { code: 'request.invalid' } });
    const encoding = Object.assign(new Error('unsupported content encoding "bogus"'), {
      status: 415,
      type: 'encoding.unsupported',
    });
    expect(answer(encoding)).toMatchObject({ status: 415, problem: { code: 'request.invalid' } });
  });

  it('still answers anything else as 500 without its message', () => {
    expect(answer(new Error('secret detail'))).toMatchObject({
      status: 500,
      problem: { code: 'internal.unexpected', detail: 'An unexpected error occurred.' },
    });
  });
});
