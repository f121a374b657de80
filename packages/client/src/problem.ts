/** One problem of a rejected request or document: a JSON pointer and what is wrong there. */
interface ProblemIssue {
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
