import type { ListRemoteToolsResult } from '@toolplane/contracts';

/** What the registry keeps of a listing: each tool's name, title and description. */
function toolSummaries(result: ListRemoteToolsResult): { name: string; title?: string; description: string }[] {
  return result.tools.flatMap((t) =>
    typeof t.name === 'string'
      ? [
          {
            name: t.name,
            ...(typeof t.title === 'string' ? { title: t.title } : {}),
            description: typeof t.description === 'string' ? t.description : '',
          },
        ]
      : [],
  );
}

/** The row's listing columns after a listing. */
export function listingOf(result: ListRemoteToolsResult) {
  return result.ok
    ? { tools: toolSummaries(result), listedAt: new Date(), listError: null }
    : { tools: [], listedAt: new Date(), listError: result.error ?? 'the server could not be listed' };
}
