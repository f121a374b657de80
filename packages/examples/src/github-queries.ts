/**
 * Natural-language queries written for given operations of GitHub's REST description (npm
 * `@octokit/openapi`): [query, operationId]. SMART-mode search must find the operation's tool in the
 * top 3 for at least 90 % of them (services/edge/src/smart/smart-search-quality.test.ts on the search index,
 * tests/e2e/calls/smart-openapi.test.ts through the whole platform).
 */
export const githubSearchQueries: readonly [string, string][] = [
  ['create a new issue in a repository', 'issues/create'],
  ['list the pull requests of a repo', 'pulls/list'],
  ['merge a pull request', 'pulls/merge'],
  ['get the latest release of a repository', 'repos/get-latest-release'],
  ['add a comment to an issue', 'issues/create-comment'],
  ['list my notifications', 'activity/list-notifications-for-authenticated-user'],
  ['fork a repository', 'repos/create-fork'],
  ['list workflow runs for a repository', 'actions/list-workflow-runs-for-repo'],
  ['create a gist', 'gists/create'],
  ['search code across repositories', 'search/code'],
  ['get a user by their username', 'users/get-by-username'],
  ['add labels to an issue', 'issues/add-labels'],
  ['request reviewers for a pull request', 'pulls/request-reviewers'],
  ['list the collaborators of a repository', 'repos/list-collaborators'],
  ['create a webhook for a repository', 'repos/create-webhook'],
  ['download a workflow artifact', 'actions/download-artifact'],
  ['list the commits of a repository', 'repos/list-commits'],
  ['replace all topics of a repository', 'repos/replace-all-topics'],
  ['create a release', 'repos/create-release'],
  ['list the members of an organization', 'orgs/list-members'],
  ['lock an issue conversation', 'issues/lock'],
  ['get the contents of a file in a repository', 'repos/get-content'],
  ['star a repository for me', 'activity/star-repo-for-authenticated-user'],
  ['delete a repository', 'repos/delete'],
];
