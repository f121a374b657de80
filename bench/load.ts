import http from 'node:http';

export interface LoadResult {
  label: string;
  concurrency: number;
  requests: number;
  errors: number;
  seconds: number;
  throughput: number;
  p50: number;
  p99: number;
}

export interface LoadTarget {
  url: string;
  /** The same endpoint on other processes (more edges): the loops are spread over `url` and these. */
  alternates?: string[];
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** Returns false when a response is not the expected one (counted as an error). */
  check?: (status: number, body: string) => boolean;
}

/** Called as the measured window opens and as it closes (after the warm-up, before the loops drain). */
export interface MeasuredWindow {
  onStart?: () => void;
  onEnd?: () => void;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * A closed-loop load generator: `concurrency` loops, each sending the next request as soon as the
 * previous one answered, over keep-alive connections, for `seconds` after a warm-up.
 */
export async function runLoad(
  label: string,
  target: LoadTarget,
  concurrency: number,
  seconds: number,
  window: MeasuredWindow = {},
): Promise<LoadResult> {
  const warmupSeconds = 1;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const urls = [target.url, ...(target.alternates ?? [])].map((u) => new URL(u));
  const headers = {
    ...target.headers,
    ...(target.body ? { 'content-length': String(Buffer.byteLength(target.body)) } : {}),
  };
  const once = (url: URL) =>
    new Promise<{ ok: boolean }>((resolve) => {
      const req = http.request(
        { agent, host: url.hostname, port: url.port, path: url.pathname + url.search, method: target.method, headers },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            const ok = status < 400 && (!target.check || target.check(status, Buffer.concat(chunks).toString('utf8')));
            resolve({ ok });
          });
        },
      );
      req.on('error', () => resolve({ ok: false }));
      if (target.body) req.write(target.body);
      req.end();
    });

  let measuring = false;
  let stop = false;
  const latencies: number[] = [];
  let errors = 0;
  const loop = async (_: unknown, i: number) => {
    const url = urls[i % urls.length]!;
    while (!stop) {
      const t0 = process.hrtime.bigint();
      const { ok } = await once(url);
      if (!measuring) continue;
      if (!ok) errors++;
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  await new Promise((r) => setTimeout(r, warmupSeconds * 1000));
  window.onStart?.();
  measuring = true;
  const start = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  window.onEnd?.();
  stop = true;
  await Promise.all(loops);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    label,
    concurrency,
    requests: latencies.length,
    errors,
    seconds: elapsed,
    throughput: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

/** A 2025-era `tools/call` of the ticket example's `get_ticket` with an API key: what the benches load the edge with. */
export function getTicketCall(
  url: string,
  apiKey: string,
): LoadTarget & Required<Pick<LoadTarget, 'headers' | 'body' | 'check'>> {
  return {
    url,
    method: 'POST',
    headers: {
      'x-api-key': apiKey,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } },
    }),
    check: (_s: number, body: string) => body.includes('"structuredContent"') && !body.includes('"isError":true'),
  };
}
