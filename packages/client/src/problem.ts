/** One problem of a rejected request or document: a JSON pointer and what is wrong there. */
export interface ProblemIssue {
  path: string;
  message: string;
}

/** What a client shows of a failed management call. */
interface ReadProblem {
  /** The problem's `detail` (or a deployment's Bump-style `message`, or its `title`); `fallback` without one. */
  detail: string;
  code: string | undefined;
  issues: ProblemIssue[];
}

/**
 * The error body of a failed call (problem+json, or a deployment's `{ message, errors }`), read defensively:
 * any shape gives a message, and `errors` become issues.
 */
export function readProblem(body: unknown, fallback: string): ReadProblem {
  const problem = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const detail =
    [problem.detail, problem.message, problem.title].find((m): m is string => typeof m === 'string' && m !== '') ??
    fallback;
  const issues = Array.isArray(problem.errors)
    ? (problem.errors as unknown[]).map((e) => {
        const issue = (e && typeof e === 'object' ? e : {}) as Record<string, unknown>;
        return {
          path: typeof issue.path === 'string' ? issue.path : '',
          message: typeof issue.message === 'string' ? issue.message : JSON.stringify(e),
        };
      })
    : [];
  return { detail, code: typeof problem.code === 'string' ? problem.code : undefined, issues };
}

/**
 * A failed management call: the status, the problem+json body as sent (`body`) and what `readProblem` reads of it
 * (`message` = its detail, `code`, `issues`). The one error type of every client of the API (CLI, dashboard, tests).
 */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string | undefined;
  readonly issues: ProblemIssue[];
  readonly body: unknown;
  constructor(status: number, body: unknown) {
    const { detail, code, issues } = readProblem(body, `request failed (${status})`);
    super(detail);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.issues = issues;
    this.body = body;
  }
}

/** The data of a typed-client call (`client.GET(…)`), or an `ApiError` thrown with the failed answer's problem. */
export async function unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw new ApiError(response.status, error);
  return data as T;
}
