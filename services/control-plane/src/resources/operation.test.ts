import type { AddressInfo } from 'node:net';
import { describe, expect, it } from '@jest/globals';
import { createLogger } from '@toolplane/logger';
import express from 'express';
import { z } from 'zod';
import type { ControlPlaneEnv } from '../env.ts';
import { actAs, type Caller } from '../http/auth.ts';
import { errorHandler, notFoundHandler } from '../http/error-handler.ts';
import { apiRouter } from '../http/api-router.ts';
import { json, noContent, problems } from '../openapi/registry.ts';
import type { ControlPlaneDeps } from './deps.ts';
import { mountOperations, operation, Reply, type Operation } from './operation.ts';

/** What the mount reads of the dependencies: the body limits (a caller limited to no server needs no database). */
const deps = {
  env: { MAX_BODY_BYTES: 64 * 1024, MAX_DOCUMENT_BYTES: 1024 * 1024 } as ControlPlaneEnv,
  log: createLogger({ service: 'operation-test', level: 'silent' }),
} as Partial<ControlPlaneDeps> as ControlPlaneDeps;

const tags = ['test'];
const Thing = z.object({ id: z.string(), by: z.string() }).strict();
const ThingParams = z.object({ id: z.string() });
const CreateThingBody = z.object({ name: z.string().min(1), size: z.number().int().optional() }).strict();
const NoteBody = z.object({ text: z.string().min(1) }).strict();

/** What the handlers ran, in order: a refused or invalid call runs none. */
const ran: string[] = [];

/** A table as a resource declares one; `/things/special` comes after `/things/{id}`, which would take it. */
const things: Operation[] = [
  operation({
    route: {
      method: 'get',
      path: '/things/{id}',
      operationId: 'getThing',
      tags,
      summary: 'A thing',
      responses: { 200: json('The thing.', Thing), ...problems(404) },
    },
    params: ThingParams,
    handler: (_deps, { params }) => {
      ran.push(`getThing ${params.id}`);
      return { id: params.id, by: 'getThing' };
    },
  }),
  operation({
    route: {
      method: 'get',
      path: '/things/special',
      operationId: 'getSpecialThing',
      tags,
      summary: 'The special thing',
      responses: { 200: json('The thing.', Thing) },
    },
    handler: () => {
      ran.push('getSpecialThing');
      return { id: 'special', by: 'getSpecialThing' };
    },
  }),
  operation({
    route: {
      method: 'post',
      path: '/things',
      operationId: 'createThing',
      'x-audit': { action: 'thing.create', resource: 'thing' },
      tags,
      summary: 'Create a thing',
      responses: { 201: json('The thing.', Thing), ...problems(422) },
    },
    body: CreateThingBody.meta({ id: 'CreateThingBody' }),
    handler: (d, { body, caller }) => {
      ran.push(`createThing ${body.name} ${caller.workspaceId} ${d === deps}`);
      return { id: body.name, by: 'createThing' };
    },
  }),
  operation({
    route: {
      method: 'post',
      path: '/things/{id}/start',
      operationId: 'startThing',
      'x-audit': false,
      tags,
      summary: 'Start a thing',
      responses: { 200: json('Already running.', Thing), 202: json('Started.', Thing) },
    },
    params: ThingParams,
    handler: (_deps, { params }) => {
      ran.push(`startThing ${params.id}`);
      return new Reply(202, { id: params.id, by: 'startThing' }, { location: `/things/${params.id}` });
    },
  }),
  operation({
    route: {
      method: 'delete',
      path: '/things/{id}',
      operationId: 'deleteThing',
      'x-audit': { action: 'thing.delete', resource: 'thing' },
      tags,
      summary: 'Delete a thing',
      responses: { 204: noContent },
    },
    params: ThingParams,
    handler: (_deps, { params }) => {
      ran.push(`deleteThing ${params.id}`);
    },
  }),
  operation({
    route: {
      method: 'post',
      path: '/notes',
      operationId: 'addNote',
      'x-scope': 'audit',
      'x-audit': { action: 'note.create', resource: 'note' },
      tags,
      summary: 'Add a note (`audit` scope)',
      responses: { 201: json('The note.', NoteBody), ...problems(403, 422) },
    },
    body: NoteBody,
    handler: (_deps, { body }) => {
      ran.push(`addNote ${body.text}`);
      return body;
    },
  }),
];

/** The caller each request acts as (what `requireCaller` decides in the app): its scopes from `x-test-scopes`. */
function callerOf(req: express.Request): Caller {
  const scopes = (req.header('x-test-scopes') ?? 'management').split(',');
  return { workspaceId: 'w1', keyId: 'k1', keyName: 'test', principal: 'key:k1', scopes };
}

/** `table` mounted as the management API mounts it, served on 127.0.0.1 while `fn` runs. */
async function serve(table: Operation[], fn: (url: string) => Promise<void>): Promise<void> {
  const router = apiRouter();
  mountOperations(router, deps, table);
  const app = express();
  app.set('case sensitive routing', true);
  app.set('strict routing', true);
  app.use('/api/v1', (req, _res, next) => {
    actAs(req, callerOf(req));
    next();
  });
  app.use('/api/v1', router);
  app.use(notFoundHandler);
  app.use(errorHandler(deps.log));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

const post = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

describe('mountOperations', () => {
  it('tries a literal segment before a parameter, whatever the table’s order', async () => {
    ran.length = 0;
    await serve(things, async (url) => {
      expect(await (await fetch(`${url}/things/special`)).json()).toEqual({ id: 'special', by: 'getSpecialThing' });
      expect(await (await fetch(`${url}/things/t1`)).json()).toEqual({ id: 't1', by: 'getThing' });
      // Paths are case-sensitive and strict: no route, no handler.
      expect((await fetch(`${url}/things/special/`)).status).toBe(404);
      expect((await fetch(`${url}/Things/t1`)).status).toBe(404);
    });
    expect(ran).toEqual(['getSpecialThing', 'getThing t1']);
  });

  it('refuses, at mount, an operation declared twice', () => {
    const again = operation({
      route: { ...things[0]!.route, operationId: 'getThingAgain' },
      params: ThingParams,
      handler: () => undefined,
    });
    expect(() => mountOperations(apiRouter(), deps, [...things, again])).toThrow(
      'get /things/{id} is in the operation tables twice',
    );
  });

  it('refuses, at declaration, a write without x-audit', () => {
    expect(() =>
      operation({
        route: {
          method: 'patch',
          path: '/things/{id}',
          operationId: 'updateThing',
          tags,
          responses: { 200: json('The thing.', Thing) },
        },
        handler: () => undefined,
      }),
    ).toThrow('PATCH /things/{id} declares no x-audit (an action, or false)');
  });

  it('answers a value with the lowest documented 2xx, a Reply with its own status and headers', async () => {
    ran.length = 0;
    await serve(things, async (url) => {
      const created = await fetch(`${url}/things`, post({ name: 'a' }));
      expect([created.status, await created.json()]).toEqual([201, { id: 'a', by: 'createThing' }]);
      const started = await fetch(`${url}/things/a/start`, post({}));
      expect([started.status, started.headers.get('location'), await started.json()]).toEqual([
        202,
        '/things/a',
        { id: 'a', by: 'startThing' },
      ]);
      const deleted = await fetch(`${url}/things/a`, { method: 'DELETE' });
      expect([deleted.status, await deleted.text()]).toEqual([204, '']);
    });
    expect(ran).toEqual(['createThing a w1 true', 'startThing a', 'deleteThing a']);
  });

  it('answers 422 listing every problem of an invalid body, without running the handler', async () => {
    ran.length = 0;
    await serve(things, async (url) => {
      const res = await fetch(`${url}/things`, post({ name: '', size: 1.5, colour: 'red' }));
      expect(res.status).toBe(422);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const problem = (await res.json()) as { code: string; errors: { path: string }[] };
      expect(problem.code).toBe('request.invalid');
      expect(problem.errors.map((e) => e.path).sort()).toEqual(['/colour', '/name', '/size']);
    });
    expect(ran).toEqual([]);
  });

  it('refuses a caller without the operation’s scope (403) before its body is parsed', async () => {
    ran.length = 0;
    await serve(things, async (url) => {
      const invalid = { text: '' };
      const refused = await fetch(`${url}/notes`, post(invalid));
      expect([refused.status, ((await refused.json()) as { code: string }).code]).toEqual([403, 'auth.forbidden']);
      // With the scope, the same body is parsed: 422; a valid one runs the handler.
      expect((await fetch(`${url}/notes`, post(invalid, { 'x-test-scopes': 'audit' }))).status).toBe(422);
      expect((await fetch(`${url}/notes`, post({ text: 'hi' }, { 'x-test-scopes': 'audit' }))).status).toBe(201);
    });
    expect(ran).toEqual(['addNote hi']);
  });
});
