// Writes docs/openapi.json, the OpenAPI 3.1 description of the control plane's /api/v1, from the
// route declarations next to each module (services/control-plane/src/modules/*.openapi.ts). The
// control plane serves the same document at GET /api/v1/openapi.json;
// services/control-plane/src/openapi/document.test.ts fails when the committed file is stale.
//
//   node --conditions=@toolplane/source scripts/gen-openapi.ts          write docs/openapi.json
//   node --conditions=@toolplane/source scripts/gen-openapi.ts --check  exit 1 if it is not current
import { readFileSync, writeFileSync } from 'node:fs';
import { openApiDocumentText, openApiDocumentPath } from '../services/control-plane/src/openapi/document.ts';

const text = openApiDocumentText();
if (process.argv.includes('--check')) {
  if (readFileSync(openApiDocumentPath, 'utf8') !== text) {
    console.error('docs/openapi.json is stale: run `node --conditions=@toolplane/source scripts/gen-openapi.ts`');
    process.exit(1);
  }
} else writeFileSync(openApiDocumentPath, text);
