// Writes docs/openapi.json, the OpenAPI 3.1 description of the control plane's /api/v1, from the
// route declarations next to each module (services/control-plane/src/resources/*/openapi.ts). The
// control plane serves the same document at GET /api/v1/openapi.json;
// services/control-plane/src/api-document.test.ts fails when the committed file is stale. It also
// writes packages/client/src/schema.ts, the typed client's types (packages/client/src/schema.test.ts), and
// docs/edge-openapi.json, the edge's MCP endpoints (services/edge/src/protocol/openapi.ts, served at GET /openapi.json on
// the edge; tests/contract/edge-openapi.test.ts fails when it is stale).
//
//   node --conditions=@toolplane/source scripts/gen-openapi.ts          write docs/openapi.json
//   node --conditions=@toolplane/source scripts/gen-openapi.ts --check  exit 1 if it is not current
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderClientSchema } from '../packages/client/src/generate.ts';
import { openApiDocumentText, openApiDocumentPath } from '../services/control-plane/src/api-document.ts';
import { edgeOpenApiDocumentPath, edgeOpenApiDocumentText } from '../services/edge/src/protocol/openapi.ts';

const clientSchemaPath = fileURLToPath(new URL('../packages/client/src/schema.ts', import.meta.url));
const outputs: [string, string][] = [
  [openApiDocumentPath, openApiDocumentText()],
  [clientSchemaPath, await renderClientSchema(JSON.parse(openApiDocumentText()) as object)],
  [edgeOpenApiDocumentPath, edgeOpenApiDocumentText()],
];
if (process.argv.includes('--check')) {
  const stale = outputs.filter(([path, text]) => readFileSync(path, 'utf8') !== text).map(([path]) => path);
  if (stale.length > 0) {
    console.error(`stale: ${stale.join(', ')}; run \`node --conditions=@toolplane/source scripts/gen-openapi.ts\``);
    process.exit(1);
  }
} else for (const [path, text] of outputs) writeFileSync(path, text);
