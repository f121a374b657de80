import { readFileSync } from 'node:fs';
import type { Clock, EngineDeps, HttpRequest, HttpResponse } from './engine.ts';

/** Fakes of the engine's own interfaces (HTTP, clock, secrets) shared by this package's tests. */

const fixturesDir = new URL('../../../tests/fixtures/workflows/', import.meta.url);

export function fixture(path: string): string {
  return readFileSync(new URL(path, fixturesDir), 'utf8');
}

export interface Recorded {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  maxResponseBytes: number;
}

export interface FakeReply {
  status?: number;
  headers?: Record<string, string>;
  /** Objects are sent as JSON. */
  body?: unknown;
}

/** A scripted upstream: `route` answers each request; every request is recorded in order. */
export function fakeHttp(route: (req: Recorded) => FakeReply | Promise<FakeReply>): {
  http: EngineDeps['http'];
  requests: Recorded[];
  lines: () => string[];
} {
  const requests: Recorded[] = [];
  const http = async (req: HttpRequest): Promise<HttpResponse> => {
    const rec: Recorded = {
      method: req.method,
      url: new URL(req.url),
      headers: req.headers,
      timeoutMs: req.timeoutMs,
      maxResponseBytes: req.maxResponseBytes,
    };
    if (req.body !== undefined) rec.body = req.body;
    requests.push(rec);
    const reply = await route(rec);
    const headers: Record<string, string> = { ...reply.headers };
    let body = '';
    if (typeof reply.body === 'string') body = reply.body;
    else if (reply.body !== undefined) {
      body = JSON.stringify(reply.body);
      headers['content-type'] ??= 'application/json';
    }
    return { status: reply.status ?? 200, headers, body, size: Buffer.byteLength(body) };
  };
  return { http, requests, lines: () => requests.map((r) => `${r.method} ${r.url.pathname}${r.url.search}`) };
}

/** A clock whose sleeps return at once and move time forward; `sleeps` lists every delay asked for. */
export function fakeClock(start = 1_700_000_000_000): Clock & { sleeps: number[]; advance(ms: number): void } {
  let t = start;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => t,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
    advance: (ms: number) => {
      t += ms;
    },
  };
}

export function secretsFrom(values: Record<string, string>): EngineDeps['secret'] {
  return async (name) => values[name];
}
