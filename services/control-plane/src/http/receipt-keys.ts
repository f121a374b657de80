import { readFileSync } from 'node:fs';
import { parseKeySet } from '@toolplane/receipts';
import type express from 'express';

/** Where the receipt keys are published (ADR 0111): a verifier pins what it reads there. */
const receiptKeysPath = '/.well-known/toolplane-receipt-keys';

/**
 * Serves the receipt key set of `RECEIPT_KEYS_FILE` (ADR 0111): each key's Ed25519 JWK, id and validity window, read
 * and checked once at start (a bad file stops the control plane; a rotation edits the file and restarts it). Public,
 * like any published key. Unset: no route (404).
 */
export function receiptKeysRoute(http: express.Express, file: string | undefined): void {
  if (!file) return;
  const text = JSON.stringify(parseKeySet(readFileSync(file, 'utf8')));
  http.get(receiptKeysPath, (_req, res) => {
    res.setHeader('cache-control', 'public, max-age=300');
    res.type('application/json').send(text);
  });
}
