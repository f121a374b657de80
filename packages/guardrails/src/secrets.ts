import { patternDetector, type Detector, type NamedPattern } from './detector.ts';

/**
 * Credentials by their documented shapes, taken from secretlint's recommended preset
 * (`@secretlint/secretlint-rule-preset-recommend` 13.0.7, MIT: its rules aws, github, slack, privatekey, npm,
 * openai, anthropic, gitlab, sendgrid, shopify, stripe, basicauth) and, for Google API keys, the format GitHub's secret
 * scanning documents (`AIza` + 35). Rewritten with bounded quantifiers only, so that each runs in linear time; the
 * preset itself is not run in-process (ADR 0050: about 0.3 ms per call before any text, asynchronous).
 */
const shapes: NamedPattern[] = [
  {
    name: 'aws_access_key_id',
    pattern: /\b(?:A3T[A-Z0-9]|AKIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ASIA)[A-Z0-9]{16}\b/g,
  },
  {
    name: 'aws_secret_access_key',
    pattern: /aws_?(?:secret)_?(?:access)?_?key["']?\s{0,5}[:=]\s{0,5}["']?[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])/gi,
    prefilter: (t) => /aws/i.test(t),
  },
  {
    name: 'github_token',
    pattern:
      /(?<![A-Za-z0-9_])(?:(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9_]{36}|github_pat_[A-Za-z0-9_]{82})(?![A-Za-z0-9_])/g,
    prefilter: (t) => t.includes('_'),
  },
  {
    name: 'slack_token',
    pattern: /\b(?:xoxb|xoxp|xapp|xoxa|xoxo|xoxr)-(?:\d-)?(?:[a-zA-Z0-9]{1,40}-){1,8}[a-zA-Z0-9]{1,40}\b/g,
    prefilter: (t) => t.includes('-'),
  },
  {
    name: 'slack_webhook',
    pattern: /https:\/\/hooks\.slack\.com\/services\/T[a-zA-Z0-9]{1,40}\/B[a-zA-Z0-9]{1,40}\/[a-zA-Z0-9]{1,40}/gi,
    prefilter: (t) => t.includes('hooks.slack.com'),
  },
  {
    name: 'private_key',
    // The whole block when its end is there (at most 10,000 characters on), else the header alone.
    pattern:
      /-----BEGIN[ A-Z]{0,20}PRIVATE KEY(?: BLOCK)?-----(?:[A-Za-z0-9+/=\s\\:,-]{0,10000}-----END[ A-Z]{0,20}PRIVATE KEY(?: BLOCK)?-----)?/g,
    prefilter: (t) => t.includes('PRIVATE KEY'),
  },
  {
    name: 'gcp_api_key',
    pattern: /(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])/g,
    prefilter: (t) => t.includes('AIza'),
  },
  {
    name: 'gcp_service_account_key',
    pattern: /"private_key_id"\s{0,5}:\s{0,5}"[a-f0-9]{40}"/g,
    prefilter: (t) => t.includes('private_key_id'),
  },
  { name: 'npm_token', pattern: /(?<![A-Za-z0-9_])npm_[A-Za-z0-9_]{36}(?![A-Za-z0-9_])/g },
  {
    name: 'openai_api_key',
    pattern: /sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,74}T3BlbkFJ[A-Za-z0-9_-]{20,74}/g,
    prefilter: (t) => t.includes('T3BlbkFJ'),
  },
  {
    name: 'anthropic_api_key',
    pattern: /sk-ant-(?:api|admin)0\d-[A-Za-z0-9_-]{90,128}AA(?![A-Za-z0-9_-])/g,
    prefilter: (t) => t.includes('sk-ant-'),
  },
  { name: 'gitlab_token', pattern: /(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_-]{20,128}(?![A-Za-z0-9_-])/g },
  {
    name: 'sendgrid_api_key',
    pattern: /(?<![A-Za-z0-9_])SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}(?![A-Za-z0-9_-])/g,
    prefilter: (t) => t.includes('SG.'),
  },
  { name: 'shopify_token', pattern: /(?<![A-Za-z0-9])(?:shppa|shpca|shpat|shpss)_[a-fA-F0-9]{32,64}(?![A-Za-z0-9])/g },
  { name: 'stripe_key', pattern: /(?<![A-Za-z0-9])(?:sk|rk)_(?:live|test)_[a-zA-Z0-9]{24,99}(?![a-zA-Z0-9])/g },
  {
    name: 'url_credentials',
    pattern: /\b(?:https?|ftps?):\/\/[-a-zA-Z0-9_]{1,256}:[-a-zA-Z0-9_]{1,256}@[-a-zA-Z0-9.]{1,253}/g,
    prefilter: (t) => t.includes('@'),
  },
];

/** A pattern without a prefilter of its own needs at least 16 characters. */
const patterns = shapes.map((p) => ({ ...p, prefilter: p.prefilter ?? ((t: string) => t.length >= 16) }));

const byShape = patternDetector('secrets', patterns);

/** A value alone under a key naming an AWS secret access key (a JSON result's `"aws_secret_access_key": "…"`). */
const awsSecretKey = /aws_?secret_?(?:access_?)?key/i;
const awsSecretValue = /^[A-Za-z0-9/+=]{40}$/;

/**
 * The `secrets` detector: the shapes above, and, unless `ownSecrets` is false, the call's own credentials (the scan's
 * pattern of every form the worker sent them in), found as `secrets:own`.
 */
export function secretsDetector(ownSecrets: boolean): Detector {
  return {
    find(text, key, out, context) {
      byShape.find(text, key, out, context);
      if (key !== undefined && awsSecretValue.test(text) && awsSecretKey.test(key))
        out.push({ start: 0, end: text.length, detector: 'secrets:aws_secret_access_key' });
      if (ownSecrets && context.ownSecrets)
        for (const m of text.matchAll(context.ownSecrets))
          out.push({ start: m.index, end: m.index + m[0].length, detector: 'secrets:own' });
    },
  };
}
