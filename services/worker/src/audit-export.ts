import { createHmac } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import type { AuditExportJob, AuditExportResult, AuditExportTarget } from '@toolplane/contracts';
import { checkUrlSync, createGuardedFetch, guardedLookup, isAllowlisted, outboundRefusal } from './outbound-guard.ts';
import type { SecretResolver } from './secret-resolver.ts';

/**
 * `audit.export` (ADR 0065): one batch of a workspace's audit events, each exactly as hashed (its `seq`, `prevHash` and
 * `hash` with it, so the receiver can verify the chain), sent to a syslog receiver (RFC 5424 over TCP or TLS, octet
 * counting of RFC 6587, the body JSON or CEF), to Splunk HEC or to a webhook (a JSON array signed with HMAC-SHA256).
 * Every connection goes through the outbound guard. `ok` only once the receiver took every event: an HTTP 2xx, or for
 * syslog every frame written and the connection closed cleanly (syslog over TCP has no acknowledgement of its own).
 */

type Event = Record<string, unknown>;
type Outcome = Pick<AuditExportResult, 'ok' | 'permanent' | 'error'>;

/** Syslog facility 13 ("log audit"); severity 6 (informational), 4 (warning) for a refusal or a failure. */
function priority(event: Event): number {
  const warn = event.outcome === 'refused' || event.outcome === 'failed';
  return 13 * 8 + (warn ? 4 : 6);
}

/** A CEF extension value: backslash, equals sign and line breaks escaped (CEF rev. 25). */
const cefValue = (v: unknown) =>
  String(v ?? '')
    .replace(/\\/g, '\\\\')
    .replace(/=/g, '\\=')
    .replace(/\r?\n/g, '\\n');
/** A CEF header field: backslash and pipe escaped. */
const cefHeader = (v: unknown) =>
  String(v ?? '')
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|');

/** A CEF line for `event`: its action as the signature, the chain's fields as extensions, the event itself in `msg`. */
function cefLine(event: Event): string {
  const actor = (event.actor ?? {}) as { id?: unknown; name?: unknown };
  const resource = (event.resource ?? {}) as { type?: unknown; id?: unknown };
  const severity = priority(event) % 8 === 4 ? 6 : 3;
  const ext: [string, unknown][] = [
    ['rt', Date.parse(String(event.at))],
    ['suser', actor.name ?? actor.id],
    ['suid', actor.id],
    ['outcome', event.outcome],
    ['cs1Label', 'seq'],
    ['cs1', event.seq],
    ['cs2Label', 'prevHash'],
    ['cs2', event.prevHash],
    ['cs3Label', 'hash'],
    ['cs3', event.hash],
    ['cs4Label', 'chain'],
    ['cs4', event.chain],
    ['cs5Label', 'resource'],
    ['cs5', `${String(resource.type)}/${String(resource.id ?? '')}`],
    ['msg', JSON.stringify(event)],
  ];
  const action = cefHeader(event.action);
  return (
    `CEF:0|Toolplane|Toolplane|1|${action}|${action}|${severity}|` +
    ext.map(([k, v]) => `${k}=${cefValue(v)}`).join(' ')
  );
}

/** One RFC 5424 message, framed by octet counting (RFC 6587 3.4.1): `<length> <message>`. */
function syslogFrame(event: Event, format: 'json' | 'cef'): Buffer {
  const body = format === 'cef' ? cefLine(event) : JSON.stringify(event);
  const msgId = String(event.action ?? 'audit')
    .replace(/[^\x21-\x7e]/g, '_')
    .slice(0, 32);
  const sd = `[toolplane@32473 chain="${String(event.chain)}" seq="${String(event.seq)}"]`;
  const message = Buffer.from(`<${priority(event)}>1 ${String(event.at)} toolplane toolplane - ${msgId} ${sd} ${body}`);
  return Buffer.concat([Buffer.from(`${message.length} `), message]);
}

/** Error codes of a certificate that could not be verified (OpenSSL's, as node:tls gives them). */
const certificateCode = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME|ISSUER/;

function syslogError(err: unknown, where: string, timeoutMs: number): string {
  const refusal = outboundRefusal(err);
  if (refusal) return refusal.message;
  const e = err as { code?: string; message?: string };
  if (e.code && certificateCode.test(e.code)) return `certificate verify failed: ${e.message ?? e.code} (${where})`;
  if (e.code === 'ETIMEDOUT') return `${where} did not take the events within ${timeoutMs} ms`;
  return `${where} could not be reached (${e.code ?? e.message ?? 'network error'})`;
}

/** Sends `frames` on one connection and ends it: delivered once written and closed without an error. */
async function sendSyslog(
  target: Extract<AuditExportTarget, { type: 'syslog' }>,
  frames: Buffer[],
  timeoutMs: number,
): Promise<Outcome> {
  const where = `${target.host}:${target.port}`;
  try {
    // An address literal is never looked up: the guard checks it here (a name, at connection time).
    checkUrlSync(`http://${target.host.includes(':') ? `[${target.host}]` : target.host}/`);
    await new Promise<void>((resolve, reject) => {
      const lookup = guardedLookup();
      const socket = target.tls
        ? tls.connect({
            host: target.host,
            port: target.port,
            lookup,
            servername: target.serverName ?? (net.isIP(target.host) ? undefined : target.host),
            ...(target.caPem ? { ca: target.caPem } : {}),
          })
        : net.connect({ host: target.host, port: target.port, lookup });
      const timer = setTimeout(
        () => socket.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })),
        timeoutMs,
      );
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.once(target.tls ? 'secureConnect' : 'connect', () => {
        for (const f of frames) socket.write(f);
        socket.end(() => {
          clearTimeout(timer);
          socket.destroy();
          resolve();
        });
      });
    });
    return { ok: true };
  } catch (err) {
    return { ok: false, error: syslogError(err, where, timeoutMs) };
  }
}

/** The HMAC-SHA256 signature of a webhook body, as `x-toolplane-signature` carries it. */
function signatureOf(key: string, body: string): string {
  return `sha256=${createHmac('sha256', key).update(body).digest('hex')}`;
}

/** HEC's event endpoint: the URL given, or `/services/collector/event` on it when it names no path. */
function hecUrl(given: string): URL {
  const url = new URL(given);
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/services/collector/event';
  return url;
}

/** What a receiver's answer means: a 2xx took them; 400, 413 and 422 refuse what was sent (permanent). */
function httpOutcome(origin: string, status: number): Outcome {
  if (status >= 200 && status < 300) return { ok: true };
  const permanent = status === 400 || status === 413 || status === 422;
  return { ok: false, permanent, error: `${origin} answered HTTP ${status}` };
}

export function createAuditExportHandler(deps: { secrets: SecretResolver; timeoutMs: number }) {
  const fetchGuarded = createGuardedFetch({ maxResponseBytes: 64 * 1024 });

  async function post(url: URL, headers: Record<string, string>, body: string, timeoutMs: number): Promise<Outcome> {
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isAllowlisted(url)))
      return { ok: false, error: `refused: ${url.origin} is plain http (https only)` };
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const res = await fetchGuarded(url.href, {
        method: 'POST',
        redirect: 'manual',
        signal,
        headers: { 'content-type': 'application/json', 'user-agent': 'toolplane-audit/1', ...headers },
        body,
      });
      await res.body?.cancel();
      return httpOutcome(url.origin, res.status);
    } catch (err) {
      const refusal = outboundRefusal(err);
      const error = refusal
        ? refusal.message
        : signal.aborted
          ? `${url.origin} did not answer within ${timeoutMs} ms`
          : `${url.origin} could not be reached (${(err as { code?: string }).code ?? 'network error'})`;
      return { ok: false, error };
    }
  }

  async function secret(name: string, what: string): Promise<string | Outcome> {
    const value = await deps.secrets.resolve(name, { fresh: true });
    return value ?? { ok: false, error: `the ${what} is missing from the secrets store` };
  }

  async function deliver(task: AuditExportJob, timeoutMs: number): Promise<Outcome> {
    const { target, events } = task;
    switch (target.type) {
      case 'syslog':
        return sendSyslog(
          target,
          events.map((e) => syslogFrame(e, target.format)),
          timeoutMs,
        );
      case 'splunk_hec': {
        const token = await secret(target.tokenSecret, 'HEC token');
        if (typeof token !== 'string') return token;
        const meta = {
          source: 'toolplane',
          sourcetype: target.sourcetype ?? 'toolplane:audit',
          ...(target.index ? { index: target.index } : {}),
        };
        // HEC takes several events in one body, one JSON object after the other.
        const body = events
          .map((e) => JSON.stringify({ time: Date.parse(String(e.at)) / 1000, ...meta, event: e }))
          .join('\n');
        return post(hecUrl(target.url), { authorization: `Splunk ${token}` }, body, timeoutMs);
      }
      case 'webhook': {
        const key = await secret(target.hmacSecret, 'webhook’s HMAC key');
        if (typeof key !== 'string') return key;
        const body = JSON.stringify(events);
        return post(new URL(target.url), { 'x-toolplane-signature': signatureOf(key, body) }, body, timeoutMs);
      }
    }
  }

  return async (task: AuditExportJob): Promise<AuditExportResult> => {
    const timeoutMs = Math.max(1, Math.min(deps.timeoutMs, task.deadlineAt - Date.now()));
    const outcome = await deliver(task, timeoutMs);
    return { v: 1, taskId: task.taskId, kind: 'audit.export', ...outcome };
  };
}
