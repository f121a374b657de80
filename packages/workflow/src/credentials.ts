import type { CredentialsIR, WorkflowDocumentIR } from './ir.ts';

/**
 * Where a connector instance's credentials may go: only to the origin they were bound to when the
 * workflow was compiled, the instance's base URL's (else the server of its connector's own document). The compiler
 * refuses what would send them elsewhere (a deployment's `servers` override of the source, a server whose host is
 * a template, a step setting `Host`); the worker checks every request again with `credentialsRefusal` before it
 * reads the credentials, so that nothing a document does at run time can carry them to another site.
 */

/** Characters that make the scheme or authority of a URL a template (or ambiguous) rather than a fixed origin. */
const unfixed = /[{}$\s\\]/;

/**
 * The origin of an absolute http(s) URL whose scheme and authority are written out (no `{…}` template, no runtime
 * expression, no backslash); undefined for a relative URL or one whose host is decided at run time.
 */
export function fixedOrigin(url: string): string | undefined {
  const m = /^(https?):\/\/([^/?#]*)/i.exec(url);
  if (!m || unfixed.test(m[2]!) || m[2] === '') return undefined;
  try {
    return new URL(`${m[1]}://${m[2]}/`).origin;
  } catch {
    return undefined;
  }
}

/**
 * Why a step's request must not carry its connector instance's credentials, or undefined when it may: the request
 * goes to another origin than the one they are bound to, sets its own `Host`, or the IR predates bound origins.
 * The message names the source and both origins (origins only: never a path or query that could hold a value).
 */
export function credentialsRefusal(
  request: { url: string; headers: Readonly<Record<string, string>> },
  credentials: Pick<CredentialsIR, 'origin'> & { source: string },
): string | undefined {
  const source = JSON.stringify(credentials.source);
  if (credentials.origin === undefined)
    return (
      `the connector instance credentials of source ${source} were compiled before they were bound to the ` +
      'instance’s origin: deploy the workflow again (POST …/deployments/{id}/redeploy); not sent'
    );
  let origin: string;
  try {
    origin = new URL(request.url).origin;
  } catch {
    return `the connector instance credentials of source ${source} go to ${credentials.origin} only; the request has no valid URL: not sent`;
  }
  if (origin !== credentials.origin)
    return (
      `the connector instance credentials of source ${source} are bound to ${credentials.origin} (the instance’s ` +
      `base URL), but this request goes to ${origin}: not sent`
    );
  if (Object.keys(request.headers).some((h) => h.toLowerCase() === 'host'))
    return `the connector instance credentials of source ${source} are not sent with a Host header set by the step`;
  return undefined;
}

/**
 * Whether a compiled document has steps carrying connector instance credentials without the origin they are bound
 * to (compiled before origins existed): the worker refuses those credentials, so the same input deployed again must
 * be compiled again rather than found unchanged.
 */
export function hasUnboundCredentials(ir: Pick<WorkflowDocumentIR, 'workflows'>): boolean {
  return ir.workflows.some((w) =>
    w.steps.some((s) => s.target.kind === 'http' && s.target.credentials && s.target.credentials.origin === undefined),
  );
}
