// The scripted task's upstream for bench/tokens: the three GitHub REST operations it uses, on 127.0.0.1, answering
// as api.github.com does (every member GitHub documents: what a real answer costs a model).
import { createServer, type Server } from 'node:http';
import { freePort } from '@toolplane/embedded';
import { githubIssueSearch } from '../tests/fixtures/github-search.ts';

type Json = Record<string, unknown>;

const repoApi = 'https://api.github.com/repos/octo-org/octo-repo';

function user(login: string, id: number): Json {
  const api = `https://api.github.com/users/${login}`;
  return {
    login,
    id,
    node_id: `MDQ6VXNlcj${id}`,
    avatar_url: `https://avatars.githubusercontent.com/u/${id}?v=4`,
    gravatar_id: '',
    url: api,
    html_url: `https://github.com/${login}`,
    followers_url: `${api}/followers`,
    following_url: `${api}/following{/other_user}`,
    gists_url: `${api}/gists{/gist_id}`,
    starred_url: `${api}/starred{/owner}{/repo}`,
    subscriptions_url: `${api}/subscriptions`,
    organizations_url: `${api}/orgs`,
    repos_url: `${api}/repos`,
    events_url: `${api}/events{/privacy}`,
    received_events_url: `${api}/received_events`,
    type: 'User',
    user_view_type: 'public',
    site_admin: false,
  };
}

const comment = (issue: number, i: number, body: string): Json => {
  const id = 2_500_000_000 + issue * 100 + i;
  return {
    id,
    node_id: `IC_kwDOABCD${id}`,
    url: `${repoApi}/issues/comments/${id}`,
    html_url: `https://github.com/octo-org/octo-repo/issues/${issue}#issuecomment-${id}`,
    issue_url: `${repoApi}/issues/${issue}`,
    body,
    user: user(`dev-${i % 5}`, 580_000 + (i % 5)),
    created_at: `2026-11-${String(10 + i).padStart(2, '0')}T08:30:00Z`,
    updated_at: `2026-11-${String(10 + i).padStart(2, '0')}T08:30:00Z`,
    author_association: 'CONTRIBUTOR',
    performed_via_github_app: null,
    reactions: {
      url: `${repoApi}/issues/comments/${id}/reactions`,
      total_count: 0,
      '+1': 0,
      '-1': 0,
      laugh: 0,
      hooray: 0,
      confused: 0,
      heart: 0,
      rocket: 0,
      eyes: 0,
    },
  };
};

const remarks = [
  'Seen again last night: the export stopped at 02:14 when the upstream answered 503 for four minutes.',
  'The partial file was picked up by the importer downstream, which then failed on a truncated line.',
  'A retry with exponential backoff (1 s, 2 s, 4 s, up to 60 s) would have covered the whole maintenance window.',
  'We should also write to a temporary name and rename at the end, so a partial file is never visible.',
  'I can take this next sprint; the retry helper from the sync job can be reused as is.',
  'Agreed on both; please add a metric for retries so we see how often the upstream is down.',
];

export interface GithubLike {
  url: string;
  /** Each request as `METHOD path?query`. */
  requests: string[];
  close(): Promise<void>;
}

/** Starts the upstream: `GET /search/issues`, `GET` and `POST /repos/{owner}/{repo}/issues/{n}/comments`. */
export async function startGithubLike(): Promise<GithubLike> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://127.0.0.1');
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    const send = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
    const comments = /^\/repos\/[^/]+\/[^/]+\/issues\/(\d+)\/comments$/.exec(url.pathname);
    if (req.method === 'GET' && url.pathname === '/search/issues')
      return send(200, githubIssueSearch(Number(url.searchParams.get('per_page') ?? 30)));
    if (req.method === 'GET' && comments)
      return send(
        200,
        remarks.map((text, i) => comment(Number(comments[1]), i, text)),
      );
    if (req.method === 'POST' && comments) {
      let raw = '';
      req.on('data', (d: Buffer) => (raw += d.toString()));
      req.on('end', () => send(201, comment(Number(comments[1]), 99, String((JSON.parse(raw) as Json).body))));
      return;
    }
    send(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
