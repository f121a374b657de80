import { invalidInput } from './errors.ts';

/**
 * Secrets (API keys, secret values) enter the CLI only here: from stdin when it is piped (CI), else from a
 * prompt that echoes nothing. Never from argv, where `ps` and shell history would see them.
 */

async function readAll(stream: NodeJS.ReadStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads a line from the terminal in raw mode, printing nothing of what is typed. */
function hiddenPrompt(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    let value = '';
    const done = (err?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (data: Buffer) => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(invalidInput('cancelled'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

/** The secret from piped stdin (one trailing newline removed) or a hidden prompt; empty is refused. */
export async function readSecret(question: string): Promise<string> {
  const raw = process.stdin.isTTY ? await hiddenPrompt(question) : await readAll(process.stdin);
  const value = raw.replace(/\r?\n$/, '');
  if (!value) throw invalidInput(`${question.replace(/:\s*$/, '')}: an empty value was given`);
  return value;
}

interface CredentialField {
  key: string;
  required: boolean;
}

/**
 * A connector instance's credentials: `KEY=VALUE` lines from piped stdin (blank lines and `#` comments
 * skipped; the value is everything after the first `=`), else one hidden prompt per field (an optional
 * field may be left empty). Errors name keys and line numbers, never values.
 */
export async function readCredentials(fields: CredentialField[]): Promise<Record<string, string>> {
  // No prototype: a key such as `__proto__` stays a plain key (the control plane refuses unknown ones).
  const credentials = Object.create(null) as Record<string, string>;
  if (process.stdin.isTTY) {
    for (const field of fields) {
      const value = await hiddenPrompt(`${field.key}${field.required ? '' : ' (optional, Enter to skip)'}: `);
      if (value) credentials[field.key] = value;
      else if (field.required) throw invalidInput(`credential ${field.key}: an empty value was given`);
    }
    return credentials;
  }
  const lines = (await readAll(process.stdin)).split(/\r?\n/);
  lines.forEach((line, i) => {
    if (!line.trim() || line.trimStart().startsWith('#')) return;
    const eq = line.indexOf('=');
    const key = eq < 0 ? '' : line.slice(0, eq).trim();
    if (!key) throw invalidInput(`stdin line ${i + 1}: expected KEY=VALUE`);
    if (key in credentials) throw invalidInput(`stdin line ${i + 1}: credential ${key} is given twice`);
    const value = line.slice(eq + 1);
    if (!value) throw invalidInput(`credential ${key}: an empty value was given`);
    credentials[key] = value;
  });
  return credentials;
}
