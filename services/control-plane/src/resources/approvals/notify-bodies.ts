import type { ApprovalNotifyTarget } from '../../catalog/approvals.ts';
import type { RequestedDetails } from './schemas.ts';

/**
 * What a webhook of an approval rule receives for each new request (`approvalRule.notify`, ADR 0049): a JSON object
 * (`json`) or a Slack incoming-webhook message (`slack`). Both carry the arguments as the edge masked them (secret
 * values never reach PostgreSQL or a webhook) and links to the request in the API and the dashboard.
 */

/** A request the control plane just made a row of, and where to announce it. */
export interface NewApprovalRequest {
  id: string;
  workspaceId: string;
  /** The caller's name as the audit event names it (an API key's name, a person). */
  requesterName: string | null;
  details: RequestedDetails;
  notify: ApprovalNotifyTarget[];
}

export interface ApprovalLinks {
  api: string;
  dashboard: string;
  /** Each person the rule names: their own single-use link (whoever opens it first decides as them). */
  people?: { person: string; url: string }[];
}

/** Masked arguments larger than this are left out of a body (a webhook's body stays well below the task's 64 KiB). */
const MAX_ARGUMENTS_CHARS = 32_000;
/** A Slack section's text holds 3,000 characters: the arguments' code block is cut before that. */
const MAX_SLACK_ARGUMENTS_CHARS = 2_500;

/** The request in the API (`GET /api/v1/approvals/{id}`) and in the dashboard's inbox, under `publicUrl`. */
export function approvalLinks(publicUrl: string, id: string): ApprovalLinks {
  const base = publicUrl.replace(/\/+$/, '');
  return {
    api: `${base}/api/v1/approvals/${encodeURIComponent(id)}`,
    dashboard: `${base}/approvals?id=${encodeURIComponent(id)}`,
  };
}

/** The `json` body. */
export function jsonNotification(r: NewApprovalRequest, links: ApprovalLinks) {
  const d = r.details;
  const args = JSON.stringify(d.arguments);
  return {
    type: 'approval.requested' as const,
    id: r.id,
    workspaceId: r.workspaceId,
    server: { id: d.server.id, name: d.server.name },
    tool: d.tool,
    arguments: args.length <= MAX_ARGUMENTS_CHARS ? d.arguments : '[too large: see links.api]',
    requester: { ...d.requester, ...(r.requesterName !== null ? { name: r.requesterName } : {}) },
    approvers: d.rule.approvers,
    approvals: d.rule.approvals,
    expiresAt: d.approval.expiresAt,
    links,
  };
}

/** Slack's mrkdwn: `&`, `<` and `>` are its control characters. */
const mrkdwn = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Who asked, as a person reads it: the person, else the key's name, the OAuth subject or the key's id. */
function askedBy(r: NewApprovalRequest): string {
  const q = r.details.requester;
  return q.person ?? r.requesterName ?? q.subject ?? q.keyId ?? 'an unknown caller';
}

/** The `slack` body: an incoming-webhook message, `text` for notifications and `blocks` for the channel. */
export function slackNotification(r: NewApprovalRequest, links: ApprovalLinks) {
  const d = r.details;
  const who = mrkdwn(askedBy(r));
  let args = JSON.stringify(d.arguments, null, 2);
  if (args.length > MAX_SLACK_ARGUMENTS_CHARS) args = `${args.slice(0, MAX_SLACK_ARGUMENTS_CHARS)}\n…`;
  const expires = Math.floor(Date.parse(d.approval.expiresAt) / 1000);
  const needs = `${d.rule.approvals} approval${d.rule.approvals === 1 ? '' : 's'}`;
  const section = (text: string) => ({ type: 'section', text: { type: 'mrkdwn', text } });
  return {
    text: mrkdwn(`Approval requested by ${askedBy(r)}: ${d.tool} on ${d.server.name}`),
    blocks: [
      section(`*Approval requested* by *${who}*\nServer \`${mrkdwn(d.server.name)}\`, tool \`${mrkdwn(d.tool)}\``),
      section(`*Arguments* (secret values masked)\n\`\`\`${mrkdwn(args)}\`\`\``),
      section(
        `Needs ${needs}; expires <!date^${expires}^{date_short_pretty} {time}|${d.approval.expiresAt}>\n` +
          `<${links.dashboard}|Open in the dashboard> · <${links.api}|API>`,
      ),
      ...(links.people?.length
        ? [
            section(
              `*For ${links.people.map((p) => mrkdwn(p.person)).join(', ')} only* (each link works once): ` +
                links.people.map((p) => `<${p.url}|${mrkdwn(p.person)}>`).join(' · '),
            ),
          ]
        : []),
      { type: 'context', elements: [{ type: 'mrkdwn', text: `Request ${r.id}` }] },
    ],
  };
}

/** The body a webhook of `format` receives, as JSON text. */
export function notificationText(
  format: ApprovalNotifyTarget['format'],
  r: NewApprovalRequest,
  links: ApprovalLinks,
): string {
  return JSON.stringify(format === 'slack' ? slackNotification(r, links) : jsonNotification(r, links));
}

/** The most requests one batch lists (the others are counted: `more`, and the inbox's link). */
const MAX_BATCH_LISTED = 20;
/** A batch's JSON text above this leaves each request's arguments out (see its `links.api`). */
const MAX_BATCH_CHARS = 48_000;

/** Requests posted together to one webhook, each with its links. */
interface RequestBatch {
  requests: NewApprovalRequest[];
  links: ApprovalLinks[];
}

/** The `json` body of a batch: each listed request as its own body says it (`type: "approval.requested"`). */
function jsonBatch(publicUrl: string, batch: RequestBatch, withArguments: boolean) {
  const listed = batch.requests.slice(0, MAX_BATCH_LISTED).map((r, i) => {
    const body = jsonNotification(r, batch.links[i]!);
    return withArguments ? body : { ...body, arguments: '[left out of the batch: see links.api]' };
  });
  const more = batch.requests.length - listed.length;
  return {
    type: 'approval.requested.batch' as const,
    count: batch.requests.length,
    requests: listed,
    ...(more > 0 ? { more } : {}),
    links: { dashboard: `${publicUrl.replace(/\/+$/, '')}/approvals` },
  };
}

/** The `slack` body of a batch: one section per listed request (who, tool, server, its links). */
function slackBatch(publicUrl: string, batch: RequestBatch) {
  const section = (text: string) => ({ type: 'section', text: { type: 'mrkdwn', text } });
  const listed = batch.requests.slice(0, MAX_BATCH_LISTED).map((r, i) => {
    const links = batch.links[i]!;
    const people = links.people?.length
      ? `\nFor ${links.people.map((p) => `<${p.url}|${mrkdwn(p.person)}>`).join(' · ')} only (each link works once)`
      : '';
    return section(
      `*${mrkdwn(askedBy(r))}*: tool \`${mrkdwn(r.details.tool)}\` on \`${mrkdwn(r.details.server.name)}\` · ` +
        `<${links.dashboard}|Open in the dashboard> · <${links.api}|API>${people}\nRequest ${r.id}`,
    );
  });
  const more = batch.requests.length - listed.length;
  const inbox = `${publicUrl.replace(/\/+$/, '')}/approvals`;
  return {
    text: `${batch.requests.length} approval requests`,
    blocks: [
      section(`*${batch.requests.length} approval requests* (arguments in the dashboard)`),
      ...listed,
      ...(more > 0
        ? [{ type: 'context', elements: [{ type: 'mrkdwn', text: `and ${more} more: <${inbox}|inbox>` }] }]
        : []),
    ],
  };
}

/** The body a webhook of `format` receives for requests made within one interval, as JSON text. */
export function batchNotificationText(
  format: ApprovalNotifyTarget['format'],
  publicUrl: string,
  batch: RequestBatch,
): string {
  if (format === 'slack') return JSON.stringify(slackBatch(publicUrl, batch));
  const text = JSON.stringify(jsonBatch(publicUrl, batch, true));
  return text.length <= MAX_BATCH_CHARS ? text : JSON.stringify(jsonBatch(publicUrl, batch, false));
}
