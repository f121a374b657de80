// The benchmark's upstream, in its own process: the seed-001 ticket system without request recording,
// every answer delayed by the third argument (ms).
import { startTicketSystem } from '@toolplane/examples';

const [apiKey = 'bench-key', port = '0', delayMs = '0'] = process.argv.slice(2);
const upstream = await startTicketSystem({ apiKey, port: Number(port), record: false, delayMs: Number(delayMs) });
process.stdout.write(`${upstream.url}\n`);
process.on('SIGTERM', () => void upstream.close().then(() => process.exit(0)));
