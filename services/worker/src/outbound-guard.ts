import dns, { type LookupAddress, type LookupOptions } from 'node:dns';
import { Readable } from 'node:stream';
import got, { type BeforeRedirectHook, type Delays, type OptionsInit } from 'got';
import { classifyAddress, isMetadataHost, type AddressClass } from '@toolplane/config';
import ipaddr from 'ipaddr.js';
import { assertUpstreamAllowed, TwinEgressError, upstreamForbidden } from './twin/no-upstream.ts';

/**
 * The worker's outbound guard (SSRF). By default no upstream request may reach a loopback, private
 * (RFC 1918, CGNAT, IPv6 ULA), link-local, cloud-metadata or otherwise reserved address. The check
 * runs on the address actually connected to: `guardedLookup` is the `lookup` of every connection
 * (DNS answers are checked, so a name pointing inside — or re-pointed inside — is refused), URL
 * literals are checked before connecting, and every redirect target is checked again. `OUTBOUND_ALLOW`
 * lists exceptions (IPs, CIDRs, host names) for development, such as the embedded example on
 * 127.0.0.1. Used by `sendRequest` (HTTP operations, OAuth tokens, connector tests, workflows) and
 * `guardedFetch` (external MCP servers). The address classes are `@toolplane/config`'s `classifyAddress`, which the
 * edge applies to a webhook callback URL at subscribe.
 */

export interface OutboundPolicy {
  /** Address ranges allowed whatever their class. */
  ranges: [ipaddr.IPv4 | ipaddr.IPv6, number][];
  /** Host names (lower case) allowed whatever they resolve to. */
  hosts: string[];
  /** `*.example.internal` entries, stored as `.example.internal`. */
  hostSuffixes: string[];
}

export interface OutboundSettings {
  policy: OutboundPolicy;
  /** DNS lookup plus TCP and TLS connection setup, per connection. */
  connectTimeoutMs: number;
  /** Redirects followed per request; 0 follows none (a 3xx is then the answer). */
  maxRedirects: number;
  /** Default body cap of `createGuardedFetch` (per response, streams included). */
  maxResponseBytes?: number;
}

export const denyAllPrivate: OutboundPolicy = { ranges: [], hosts: [], hostSuffixes: [] };

let active: OutboundSettings = { policy: denyAllPrivate, connectTimeoutMs: 10_000, maxRedirects: 5 };

/** Sets the process-wide outbound settings (the worker does this once at start, from its env). */
export function configureOutbound(settings: Partial<OutboundSettings>): void {
  active = { ...active, ...settings };
}

export function outboundSettings(): OutboundSettings {
  return active;
}

/** Parses `OUTBOUND_ALLOW`: comma- or space-separated IPs, CIDRs, host names and `*.suffix` patterns. */
export function parseOutboundAllow(spec: string): OutboundPolicy {
  const policy: OutboundPolicy = { ranges: [], hosts: [], hostSuffixes: [] };
  for (const raw of spec.split(/[\s,]+/)) {
    const entry = raw
      .trim()
      .toLowerCase()
      .replace(/^\[(.*)\]$/, '$1');
    if (!entry) continue;
    if (entry.includes('/')) {
      if (!ipaddr.isValidCIDR(entry)) throw new Error(`OUTBOUND_ALLOW: "${raw}" is not a valid CIDR range`);
      policy.ranges.push(ipaddr.parseCIDR(entry));
    } else if (ipaddr.isValid(entry) && /^[0-9a-f:.]+$/.test(entry)) {
      const addr = ipaddr.parse(entry);
      policy.ranges.push([addr, addr.kind() === 'ipv4' ? 32 : 128]);
    } else if (/^\*\.[a-z0-9.-]+$/.test(entry)) {
      policy.hostSuffixes.push(entry.slice(1));
    } else if (/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/.test(entry)) {
      policy.hosts.push(entry.replace(/\.$/, ''));
    } else {
      throw new Error(`OUTBOUND_ALLOW: "${raw}" is neither an IP address, a CIDR range nor a host name`);
    }
  }
  return policy;
}

function inRanges(ip: string, policy: OutboundPolicy): boolean {
  if (!ipaddr.isValid(ip)) return false;
  const addr = ipaddr.process(ip);
  return policy.ranges.some(([range, bits]) => range.kind() === addr.kind() && addr.match(range, bits));
}

function hostAllowed(host: string, policy: OutboundPolicy): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return policy.hosts.includes(h) || policy.hostSuffixes.some((s) => h.endsWith(s));
}

/**
 * Whether a URL's host is one `OUTBOUND_ALLOW` lists by name, or an address literal in its ranges (no DNS
 * lookup: a name is allowlisted only as written). Documents fetched at deploy time may use plain `http`
 * only for these hosts.
 */
export function isAllowlisted(url: URL, policy: OutboundPolicy = active.policy): boolean {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return hostAllowed(host, policy) || (ipaddr.isValid(host) && /^[0-9a-f:.]+$/i.test(host) && inRanges(host, policy));
}

/** A refused outbound request. `code` is `EBLOCKED` (got and the workflow runner map it). */
export class OutboundRefusedError extends Error {
  readonly code = 'EBLOCKED';
  readonly host: string;
  readonly address: string | undefined;
  readonly addressClass: AddressClass | undefined;
  constructor(host: string, address: string | undefined, addressClass: AddressClass | undefined, detail?: string) {
    const what =
      detail ??
      (address === undefined || address === host
        ? `${host} is a ${addressClass} address`
        : `${host} resolves to a ${addressClass} address (${address})`);
    super(
      `refused: ${what}; outbound requests to loopback, private, link-local and cloud-metadata addresses are blocked (OUTBOUND_ALLOW lists exceptions)`,
    );
    this.name = 'OutboundRefusedError';
    this.host = host;
    this.address = address;
    this.addressClass = addressClass;
  }
}

/** The `OutboundRefusedError` behind an error (got wraps it in a RequestError), if any. */
export function outboundRefusal(err: unknown, depth = 0): OutboundRefusedError | undefined {
  if (err instanceof OutboundRefusedError) return err;
  const cause = (err as { cause?: unknown } | null)?.cause;
  return cause !== undefined && cause !== err && depth < 5 ? outboundRefusal(cause, depth + 1) : undefined;
}

/** The refusal for connecting to `ip` on behalf of `host`, or `undefined` when allowed. */
function checkAddress(
  host: string,
  ip: string,
  policy: OutboundPolicy = active.policy,
): OutboundRefusedError | undefined {
  if (hostAllowed(host, policy) || inRanges(ip, policy)) return undefined;
  const cls = classifyAddress(ip);
  return cls ? new OutboundRefusedError(host, ip, cls) : undefined;
}

/**
 * The URL hosts each policy let through `checkUrlSync`, so that the calls of one API (one host) do not parse
 * and classify its address again (several microseconds per call). A verdict depends only on the host and the
 * policy; at most `maxPassedHosts` per policy are kept (the set starts over when full).
 */
const passedHosts = new WeakMap<OutboundPolicy, Set<string>>();
const maxPassedHosts = 1024;

/**
 * Checks what can be checked without DNS: the scheme, an IP literal host, metadata host names.
 * Throws `OutboundRefusedError`. Host names are checked again at connection time (`guardedLookup`).
 */
export function checkUrlSync(url: string | URL, policy: OutboundPolicy = active.policy): URL {
  // A twin job's request never leaves (ADR 0112).
  assertUpstreamAllowed('a request');
  const u = typeof url === 'string' ? new URL(url) : url;
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new OutboundRefusedError(
      u.protocol,
      undefined,
      undefined,
      `the scheme "${u.protocol}" is not allowed (http and https only)`,
    );
  let passed = passedHosts.get(policy);
  if (passed?.has(u.hostname)) return u;
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (ipaddr.isValid(host) && /^[0-9a-f:.]+$/i.test(host)) {
    const refusal = checkAddress(host, host, policy);
    if (refusal) throw refusal;
  } else if (isMetadataHost(host) && !hostAllowed(host, policy)) {
    throw new OutboundRefusedError(host, undefined, 'cloud metadata', `${host} is a cloud metadata service`);
  }
  if (!passed || passed.size >= maxPassedHosts) passedHosts.set(policy, (passed = new Set()));
  passed.add(u.hostname);
  return u;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;
type Resolver = (
  hostname: string,
  options: LookupOptions & { all: true },
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/**
 * A `lookup` for sockets (node:net, http agents, got's `dnsLookup`): resolves like `dns.lookup`,
 * then keeps only the addresses the policy allows; when none is left, fails with
 * `OutboundRefusedError`. The connection can only go to an address that was checked.
 */
export function guardedLookup(policy?: OutboundPolicy, resolve: Resolver = dns.lookup as unknown as Resolver) {
  return (hostname: string, options: LookupOptions | number | LookupCallback, callback?: LookupCallback): void => {
    const cb = (typeof options === 'function' ? options : callback)!;
    const opts: LookupOptions =
      typeof options === 'function' ? {} : typeof options === 'number' ? { family: options } : options;
    // A twin job's connection is never opened (ADR 0112).
    if (upstreamForbidden()) return cb(new TwinEgressError('a connection'), opts.all ? [] : '');
    resolve(hostname, { ...opts, all: true }, (err, addresses) => {
      if (err) return cb(err, opts.all ? [] : '');
      const p = policy ?? active.policy;
      let refusal: OutboundRefusedError | undefined;
      const allowed: LookupAddress[] = [];
      for (const a of addresses) {
        const r = checkAddress(hostname, a.address, p);
        if (r) refusal ??= r;
        else allowed.push(a);
      }
      if (allowed.length === 0) {
        const e: NodeJS.ErrnoException =
          refusal ?? Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
        return cb(e, opts.all ? [] : '');
      }
      if (opts.all) cb(null, allowed);
      else cb(null, allowed[0]!.address, allowed[0]!.family);
    });
  };
}

/** Checks a URL completely before use (scheme, literal, and every address its host resolves to now). */
export async function checkUrl(url: string | URL, policy: OutboundPolicy = active.policy): Promise<void> {
  const u = checkUrlSync(url, policy);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (ipaddr.isValid(host) && /^[0-9a-f:.]+$/i.test(host)) return;
  await new Promise<void>((resolve, reject) =>
    guardedLookup(policy)(host, { all: true }, (err) => (err ? reject(err) : resolve())),
  );
}

/** Headers that may follow a redirect to another origin (credentials never do). */
const crossOriginSafeHeaders = new Set([
  'accept',
  'accept-encoding',
  'accept-language',
  'content-type',
  'content-length',
  'user-agent',
  'traceparent',
  'tracestate',
  'mcp-protocol-version',
]);

/**
 * The headers a request may carry when a redirect leads to `target`: all of them within the original
 * `origin`, only a few safe ones (never credentials) beyond it.
 */
export function redirectHeaders(headers: Record<string, string>, origin: string, target: URL): Record<string, string> {
  if (target.origin === origin) return headers;
  return Object.fromEntries(Object.entries(headers).filter(([name]) => crossOriginSafeHeaders.has(name.toLowerCase())));
}

/**
 * got options that route a request through the guard: the guarded `dnsLookup`, connection
 * timeouts, the redirect limit, and a `beforeRedirect` hook that checks every target and drops
 * credentials (any header but a few safe ones) when a redirect leaves the original origin.
 */
interface GuardedGotOptions {
  dnsLookup: NonNullable<OptionsInit['dnsLookup']>;
  followRedirect: boolean;
  maxRedirects: number;
  hooks: { beforeRedirect: BeforeRedirectHook[] };
  timeout: Delays;
}

function guardedGotOptions(originalUrl: string, follow = true): GuardedGotOptions {
  const { connectTimeoutMs, maxRedirects } = active;
  const origin = new URL(originalUrl).origin;
  return {
    dnsLookup: guardedLookup() as unknown as GuardedGotOptions['dnsLookup'],
    followRedirect: follow && maxRedirects > 0,
    maxRedirects,
    hooks: {
      beforeRedirect: [
        (options) => {
          const target = checkUrlSync(options.url as URL);
          if (target.origin !== origin) {
            for (const name of Object.keys(options.headers))
              if (!crossOriginSafeHeaders.has(name.toLowerCase())) delete options.headers[name];
          }
        },
      ],
    },
    timeout: { lookup: connectTimeoutMs, connect: connectTimeoutMs, secureConnect: connectTimeoutMs },
  };
}

/**
 * A WHATWG `fetch` over the guard (for the MCP client transports): same checks, redirect handling
 * per `init.redirect` (`manual` returns the 3xx, `error` rejects), and a cap on the body size.
 */
export function createGuardedFetch(opts: { maxResponseBytes?: number } = {}) {
  return async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    checkUrlSync(url);
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => (headers[k] = v));
    const body = init.body;
    if (
      body !== undefined &&
      body !== null &&
      typeof body !== 'string' &&
      !(body instanceof Uint8Array) &&
      !(body instanceof URLSearchParams)
    ) {
      throw new TypeError('guardedFetch: only string, Uint8Array and URLSearchParams bodies are supported');
    }
    const redirect = init.redirect ?? 'follow';
    const stream = got.stream(url, {
      ...guardedGotOptions(url, redirect === 'follow'),
      method: (init.method ?? 'GET').toUpperCase() as 'GET',
      headers,
      ...(body !== undefined && body !== null
        ? { body: body instanceof URLSearchParams ? body.toString() : body }
        : {}),
      throwHttpErrors: false,
      retry: { limit: 0 },
      decompress: true,
      ...(init.signal ? { signal: init.signal } : {}),
    });
    return new Promise<Response>((resolve, reject) => {
      // A refusal surfaces as itself ("refused: … resolves to a private address …"), not as got's wrapper.
      stream.once('error', (err: Error) => reject(outboundRefusal(err) ?? err));
      stream.once('response', (res: { statusCode: number; headers: Record<string, string | string[] | undefined> }) => {
        if (redirect === 'error' && res.statusCode >= 300 && res.statusCode < 400) {
          stream.destroy();
          return reject(new TypeError('fetch failed: redirect'));
        }
        const out = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          if (v === undefined || k === 'content-length' || (k === 'content-encoding' && v !== 'identity')) continue; // the body is decompressed
          for (const one of Array.isArray(v) ? v : [v]) out.append(k, one);
        }
        const cap = opts.maxResponseBytes ?? active.maxResponseBytes;
        if (cap !== undefined) {
          stream.on('downloadProgress', (p: { transferred: number }) => {
            if (p.transferred > cap) stream.destroy(new Error(`the response exceeded the ${cap}-byte limit`));
          });
        }
        const noBody = [101, 204, 205, 304].includes(res.statusCode) || init.method?.toUpperCase() === 'HEAD';
        if (noBody) stream.resume();
        resolve(
          new Response(noBody ? null : (Readable.toWeb(stream) as ReadableStream<Uint8Array>), {
            status: res.statusCode,
            headers: out,
          }),
        );
      });
    });
  };
}
