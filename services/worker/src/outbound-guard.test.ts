import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { sendRequest, toToolResult } from './http-operation.ts';
import { classifyAddress, hostRefusal } from '@toolplane/config';
import {
  checkUrl,
  checkUrlSync,
  configureOutbound,
  createGuardedFetch,
  denyAllPrivate,
  guardedLookup,
  OutboundRefusedError,
  parseOutboundAllow,
} from './outbound-guard.ts';

const limits = { timeoutMs: 5_000, maxResponseBytes: 1024 * 1024 };

describe('classifyAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.8.9.10', 'loopback'],
    ['::1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['fd12:3456::1', 'private'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['169.254.169.254', 'cloud metadata'],
    ['fd00:ec2::254', 'cloud metadata'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:169.254.169.254', 'cloud metadata'],
    ['64:ff9b::a00:1', 'private'],
    ['2002:7f00:1::', 'loopback'],
    ['0.0.0.0', 'reserved'],
    ['::', 'reserved'],
    ['::7f00:1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['64:ff9b::a00:5', 'private'],
    ['224.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
  ])('%s is %s', (ip, cls) => {
    expect(classifyAddress(ip)).toBe(cls);
  });

  it.each(['93.184.216.34', '8.8.8.8', '2606:2800:220:1:248:1893:25c8:1946', '64:ff9b::808:808'])(
    '%s is public',
    (ip) => {
      expect(classifyAddress(ip)).toBeUndefined();
    },
  );
});

describe('hostRefusal (a callback URL at subscribe: the same classes as at delivery)', () => {
  it.each([
    ['https://[::7f00:1]/', 'reserved'],
    ['https://[64:ff9b::a00:5]/', 'private'],
    ['https://198.18.0.1/', 'reserved'],
    ['https://localhost./', 'loopback'],
    ['https://api.localhost/', 'loopback'],
    ['https://[::ffff:127.0.0.1]/', 'loopback'],
    ['https://0x7f.1/', 'loopback'],
    ['https://metadata.google.internal./', 'cloud metadata'],
    ['https://169.254.169.254/', 'cloud metadata'],
  ])('%s is %s', (url, cls) => {
    expect(hostRefusal(new URL(url).hostname)).toBe(cls);
  });

  it.each(['https://example.com/', 'https://93.184.216.34/', 'https://[2606:2800:220:1:248:1893:25c8:1946]/'])(
    '%s is left to the connection',
    (url) => {
      expect(hostRefusal(new URL(url).hostname)).toBeUndefined();
    },
  );
});

describe('OUTBOUND_ALLOW', () => {
  it('parses IPs, CIDRs, host names and wildcard suffixes', () => {
    const p = parseOutboundAllow('127.0.0.1, 10.0.0.0/8 [::1] api.internal *.svc.cluster.local');
    expect(p.ranges.map(([a, b]) => `${a.toString()}/${b}`)).toEqual(['127.0.0.1/32', '10.0.0.0/8', '::1/128']);
    expect(p.hosts).toEqual(['api.internal']);
    expect(p.hostSuffixes).toEqual(['.svc.cluster.local']);
    expect(parseOutboundAllow('')).toEqual(denyAllPrivate);
  });

  it('rejects entries that are none of those, naming them', () => {
    expect(() => parseOutboundAllow('10.0.0.0/99')).toThrow('"10.0.0.0/99" is not a valid CIDR range');
    expect(() => parseOutboundAllow('http://x')).toThrow('"http://x"');
  });
});

describe('checkUrlSync (before any connection)', () => {
  it.each([
    ['http://127.0.0.1:8080/x', 'refused: 127.0.0.1 is a loopback address'],
    ['http://10.0.0.1/', 'refused: 10.0.0.1 is a private address'],
    ['http://169.254.169.254/latest/meta-data/', 'refused: 169.254.169.254 is a cloud metadata address'],
    ['http://[::1]:9000/', 'refused: ::1 is a loopback address'],
    ['http://[fd00:ec2::254]/', 'refused: fd00:ec2::254 is a cloud metadata address'],
    ['http://[::ffff:a00:1]/', 'refused: ::ffff:a00:1 is a private address'],
    ['http://2130706433/', 'refused: 127.0.0.1 is a loopback address'],
    ['http://0x7f.1/', 'refused: 127.0.0.1 is a loopback address'],
    [
      'http://metadata.google.internal/computeMetadata/v1/',
      'refused: metadata.google.internal is a cloud metadata service',
    ],
    ['file:///etc/passwd', 'refused: the scheme "file:" is not allowed'],
  ])('%s', (url, message) => {
    expect(() => checkUrlSync(url, denyAllPrivate)).toThrow(message);
  });

  it('lets allowlisted addresses and public ones through', () => {
    const allow = parseOutboundAllow('127.0.0.1,10.0.0.0/8,metadata.google.internal');
    for (const url of [
      'http://127.0.0.1:1/',
      'http://10.1.2.3/',
      'http://metadata.google.internal/',
      'https://93.184.216.34/',
      'https://api.example.com/',
    ]) {
      expect(checkUrlSync(url, allow).href).toBe(new URL(url).href);
    }
    expect(() => checkUrlSync('http://127.0.0.2/', allow)).toThrow(OutboundRefusedError);
  });
});

describe('guardedLookup (the address connected to is the one checked)', () => {
  const lookup = (policy = denyAllPrivate, resolve?: Parameters<typeof guardedLookup>[1]) =>
    new Promise<{ err: NodeJS.ErrnoException | null; address: unknown }>((r) =>
      guardedLookup(policy, resolve)('localhost', {}, (err, address) => r({ err, address })),
    );

  it('refuses a host name that resolves to a loopback address', async () => {
    const { err } = await lookup();
    expect(err).toBeInstanceOf(OutboundRefusedError);
    expect(err!.message).toContain('refused: localhost resolves to a loopback address (127.0.0.1)');
    await expect(checkUrl('http://localhost:1/', denyAllPrivate)).rejects.toThrow(
      'refused: localhost resolves to a loopback address',
    );
  });

  it('keeps only the allowed addresses of a name (here a resolver answering a private and a public one)', async () => {
    const answers = [
      { address: '10.0.0.7', family: 4 },
      { address: '93.184.216.34', family: 4 },
    ];
    const resolver: Parameters<typeof guardedLookup>[1] = (_h, _o, cb) => cb(null, answers);
    expect((await lookup(denyAllPrivate, resolver)).address).toBe('93.184.216.34');
    const all = await new Promise((r) =>
      guardedLookup(denyAllPrivate, resolver)('x.example', { all: true }, (_e, a) => r(a)),
    );
    expect(all).toEqual([{ address: '93.184.216.34', family: 4 }]);
  });

  it('allows a name whose addresses are allowlisted, or the name itself', async () => {
    expect((await lookup(parseOutboundAllow('127.0.0.0/8'))).address).toBe('127.0.0.1');
    expect((await lookup(parseOutboundAllow('localhost'))).address).toBe('127.0.0.1');
  });
});

describe('sendRequest through the guard', () => {
  let upstream: Server;
  let base: string;
  const seen: { url: string; headers: Record<string, unknown> }[] = [];

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      seen.push({ url: req.url ?? '', headers: req.headers });
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.pathname === '/redirect') return void res.writeHead(302, { location: u.searchParams.get('to')! }).end();
      if (u.pathname === '/loop') return void res.writeHead(302, { location: '/loop' }).end();
      if (u.pathname === '/big') return void res.writeHead(200).end('x'.repeat(4096));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, path: u.pathname }));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => upstream.close(() => r())));
  beforeEach(() => {
    seen.length = 0;
    configureOutbound({ policy: denyAllPrivate, maxRedirects: 5, connectTimeoutMs: 2_000 });
  });

  const call = async (url: string, headers: Record<string, string> = {}) => {
    const outcome = await sendRequest({ method: 'GET', url, headers }, limits);
    return {
      outcome,
      text: String(toToolResult(outcome, limits).content[0]!.text),
      isError: toToolResult(outcome, limits).isError === true,
    };
  };

  it('refuses 127.0.0.1, localhost and [::1] by default with a clear tool error, without connecting', async () => {
    for (const [url, message] of [
      [`${base}/echo`, 'refused: 127.0.0.1 is a loopback address'],
      [
        `${base.replace('127.0.0.1', 'localhost')}/echo`,
        'refused: localhost resolves to a loopback address (127.0.0.1)',
      ],
      [`http://[::1]:${new URL(base).port}/echo`, 'refused: ::1 is a loopback address'],
      ['http://10.0.0.1/', 'refused: 10.0.0.1 is a private address'],
      ['http://169.254.169.254/latest/meta-data/iam/', 'refused: 169.254.169.254 is a cloud metadata address'],
    ] as const) {
      const r = await call(url);
      expect(r.outcome).toMatchObject({ kind: 'unreachable', code: 'EBLOCKED' });
      expect(r.isError).toBe(true);
      expect(r.text).toContain(message);
    }
    expect(seen).toEqual([]);
  });

  it('reaches an allowlisted upstream', async () => {
    configureOutbound({ policy: parseOutboundAllow('127.0.0.1') });
    const r = await call(`${base}/echo`);
    expect(r.outcome).toMatchObject({ kind: 'response', status: 200 });
  });

  it('checks every redirect: from an allowlisted upstream to a private or metadata address is refused', async () => {
    configureOutbound({ policy: parseOutboundAllow('127.0.0.1') });
    for (const [to, message] of [
      ['http://10.0.0.1/admin', 'refused: 10.0.0.1 is a private address'],
      ['http://169.254.169.254/latest/meta-data/', 'refused: 169.254.169.254 is a cloud metadata address'],
      [`http://127.0.0.2:${new URL(base).port}/echo`, 'refused: 127.0.0.2 is a loopback address'],
      ['http://[::1]/', 'refused: ::1 is a loopback address'],
    ] as const) {
      const r = await call(`${base}/redirect?to=${encodeURIComponent(to)}`);
      expect(r.text).toContain(message);
      expect(r.isError).toBe(true);
    }
    // Same-origin redirects are followed.
    const ok = await call(`${base}/redirect?to=${encodeURIComponent('/echo')}`);
    expect(ok.outcome).toMatchObject({ kind: 'response', status: 200 });
  });

  it('refuses a redirect to a host name that resolves to a private address', async () => {
    configureOutbound({ policy: parseOutboundAllow('127.0.0.2') });
    const other = createServer((_req, res) =>
      res.writeHead(302, { location: `http://localhost:${new URL(base).port}/echo` }).end(),
    );
    await new Promise<void>((r) => other.listen(0, '127.0.0.2', r));
    try {
      const r = await call(`http://127.0.0.2:${(other.address() as AddressInfo).port}/`);
      expect(r.text).toContain('refused: localhost resolves to a loopback address (127.0.0.1)');
      expect(seen).toEqual([]);
    } finally {
      await new Promise<void>((r) => other.close(() => r()));
    }
  });

  it('stops after the redirect limit', async () => {
    configureOutbound({ policy: parseOutboundAllow('127.0.0.1'), maxRedirects: 3 });
    const r = await call(`${base}/loop`);
    expect(r.text).toBe('The upstream API redirected more than 3 times; the request was stopped.');
    expect(seen).toHaveLength(4);
  });

  it('drops credentials when a redirect leaves the origin', async () => {
    configureOutbound({ policy: parseOutboundAllow('127.0.0.1,127.0.0.2') });
    const other = createServer((req, res) => {
      seen.push({ url: `other:${req.url}`, headers: req.headers });
      res.writeHead(200).end('{}');
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.2', r));
    try {
      const to = `http://127.0.0.2:${(other.address() as AddressInfo).port}/landing`;
      await call(`${base}/redirect?to=${encodeURIComponent(to)}`, {
        'x-api-key': 'k-123',
        authorization: 'Bearer t-456',
        accept: 'application/json',
      });
      expect(seen[0]!.headers).toMatchObject({ 'x-api-key': 'k-123', authorization: 'Bearer t-456' });
      expect(seen[1]!.url).toBe('other:/landing');
      expect(seen[1]!.headers['x-api-key']).toBeUndefined();
      expect(seen[1]!.headers.authorization).toBeUndefined();
      expect(seen[1]!.headers.accept).toBe('application/json');
    } finally {
      await new Promise<void>((r) => other.close(() => r()));
    }
  });

  it('guardedFetch (external MCP servers) refuses the same addresses and caps bodies', async () => {
    const guarded = createGuardedFetch({ maxResponseBytes: 1000 });
    await expect(guarded(`${base}/echo`)).rejects.toThrow('refused: 127.0.0.1 is a loopback address');
    await expect(guarded(`http://localhost:${new URL(base).port}/echo`)).rejects.toThrow(
      'refused: localhost resolves to a loopback address',
    );
    configureOutbound({ policy: parseOutboundAllow('127.0.0.1') });
    const res = await guarded(`${base}/echo`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, path: '/echo' });
    const manual = await guarded(`${base}/redirect?to=%2Fecho`, { redirect: 'manual' });
    expect(manual.status).toBe(302);
    await expect(guarded(`${base}/redirect?to=${encodeURIComponent('http://10.0.0.1/')}`)).rejects.toThrow(
      'refused: 10.0.0.1 is a private address',
    );
    const big = await guarded(`${base}/big`);
    await expect(big.text()).rejects.toThrow();
  });
});
