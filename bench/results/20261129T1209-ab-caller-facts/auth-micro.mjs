// In-process cost of authenticate() for a key caller with no rules (no quota, session, token or condition), and of
// toolCall(): the same fakes against either checkout. Usage: node --conditions=@toolplane/source auth-micro.mjs DIR N (DIR: a checkout)
import { createHash } from 'node:crypto';
const [dir, nArg] = process.argv.slice(2);
const n = Number(nArg ?? 200000);
const { createAuthenticator } = await import(`${dir}/services/edge/src/identity/authenticate.ts`);
const hash = createHash('sha256').update('tp-key-1').digest('hex');
const record = { keyId: 'k1', workspaceId: 'w1', scopes: ['runtime'], revoked: false, name: 'ops' };
const tool = { tool: { name: 'get', description: 'get', inputSchema: { type: 'object' } } };
const catalog = { v: 1, serverId: 's1', workspaceId: 'w1', version: 1, name: 's1', isPublic: false, mode: 'NORMAL', tools: [tool] };
const loaded = { catalog, tools: new Map([['get', { def: tool.tool, validate: () => true, rules: {} }]]), meta: new Map(), list: [tool.tool] };
const access = { v: 1, workspaceId: 'w1', policies: [] };
const authenticate = createAuthenticator({
  keys: { authenticateHash: (h) => Promise.resolve(h === hash ? record : null), touch: () => undefined },
  catalogs: { get: () => Promise.resolve(loaded) },
  accessPolicies: { get: () => Promise.resolve(access) },
  userId: () => Promise.resolve(null),
  state: { assertComplete: () => Promise.resolve() },
  limiter: { blockedFor: () => Promise.resolve(0), count: () => undefined },
  records: { add: () => undefined },
  allowedOrigins: ['*'],
  userClaim: 'preferred_username',
});
const headers = { 'x-api-key': 'tp-key-1' };
const req = { ip: '127.0.0.1', params: { serverId: 's1' }, header: (name) => headers[name] };
for (let i = 0; i < 20000; i++) await authenticate(req);
const { PerformanceObserver, constants } = await import('node:perf_hooks');
let minor = 0;
const obs = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (e.detail.kind === constants.NODE_PERFORMANCE_GC_MINOR) minor++;
});
obs.observe({ entryTypes: ['gc'] });
const t0 = process.hrtime.bigint();
for (let i = 0; i < n; i++) await authenticate(req);
const ns = Number(process.hrtime.bigint() - t0) / n;
await new Promise((r) => setTimeout(r, 50));
obs.disconnect();
console.log(JSON.stringify({ arm: dir.includes('base') ? 'base' : 'new', n, nsPerAuthenticate: Math.round(ns), minorGcs: minor }));
