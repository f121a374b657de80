/**
 * Values that look like credentials whatever the argument is called: what the edge masks in what a
 * person is shown and in audit events, on top of schema marks and credential-like names (confirmation.ts). Each
 * detector is a pattern of a well-known credential shape; a long random-looking token counts too. Over-masking an
 * argument in an audit event costs little; recording a credential costs a rotation.
 */

const shapes: readonly RegExp[] = [
  // JSON Web Tokens (header and payload base64url JSON): `eyJ….eyJ….…`.
  /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/,
  // HTTP authorization schemes with their credential.
  /\b(?:Bearer|Basic|Digest|Token|Negotiate)\s+[A-Za-z0-9._~+/=-]{8,}/i,
  // Provider key prefixes: Stripe, OpenAI, Anthropic, GitHub, GitLab, Slack, AWS, Google, SendGrid, npm, PyPI.
  /\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{8,}/,
  /\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}/,
  /\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}/,
  /\bgithub_pat_[A-Za-z0-9_]{20,}/,
  /\bglpat-[A-Za-z0-9_-]{16,}/,
  /\bxox[abposr]-[A-Za-z0-9-]{10,}/,
  /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/,
  /\bAIza[0-9A-Za-z_-]{30,}/,
  /\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}/,
  /\bnpm_[A-Za-z0-9]{30,}/,
  /\bpypi-[A-Za-z0-9_-]{30,}/,
  // Private keys in PEM.
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
  // A URL with a password in it.
  /\b[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i,
  // `password=…`, `secret: …`, `refresh_token=…`, `session_id=…`, `signature=…` inside a text.
  new RegExp(
    '\\b(?:pass(?:word|wd|phrase)?|secret|api[_-]?key|access[_-]?token|refresh[_-]?token|id[_-]?token|' +
      'session[_-]?(?:id|token)|sid|signature|sig|client[_-]?secret)\\s*[:=]\\s*\\S{6,}',
    'i',
  ),
];

/** A UUID, a hex digest of a well-known length, or a date: long, but identifiers rather than secrets. */
const identifier =
  /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}|[0-9a-f]{40}|\d[\d:.TZ+-]*)$/i;

/**
 * A single token of 24 or more characters drawn from a key alphabet, mixing letters and digits (and, for the
 * shorter ones, both cases): a session id, a signature, an unprefixed API key.
 */
function randomLooking(value: string): boolean {
  if (value.length < 24 || value.length > 4096 || identifier.test(value)) return false;
  if (!/^[A-Za-z0-9+/=_.~-]+$/.test(value)) return false;
  const digits = /\d/.test(value);
  const lower = /[a-z]/.test(value);
  const upper = /[A-Z]/.test(value);
  if (!digits || !(lower || upper)) return false;
  return value.length >= 40 || (lower && upper);
}

/** Whether a string looks like a credential, or carries one. */
export function looksSecret(value: string): boolean {
  if (value.length < 8) return false;
  return randomLooking(value) || shapes.some((shape) => shape.test(value));
}
