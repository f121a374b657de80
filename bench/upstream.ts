// The benchmark's upstream, in its own process: the seed-001 ticket system without request recording,
// every answer delayed by the third argument (ms). A fourth argument (bytes) grows ticket TCK-1 with comments
// until its JSON is about that long: what an API answer of that size costs on the way to the agent.
import { startTicketSystem } from '@toolplane/examples';

const [apiKey = 'bench-key', port = '0', delayMs = '0', responseBytes = '0'] = process.argv.slice(2);
const upstream = await startTicketSystem({ apiKey, port: Number(port), record: false, delayMs: Number(delayMs) });
const ticket = upstream.tickets.get('TCK-1')!;
// Counted as it grows (each comment's JSON and its comma), not by serialising the whole ticket again per comment.
for (let i = 1, size = JSON.stringify(ticket).length; size < Number(responseBytes); i++) {
  const comment = {
    author: `user${i % 17}@example.com`,
    text: `Comment ${i}: seen again after the deploy of build ${1000 + i}; the logs show a timeout in the session store.`,
  };
  ticket.comments.push(comment);
  size += JSON.stringify(comment).length + 1;
}
process.stdout.write(`${upstream.url}\n`);
process.on('SIGTERM', () => void upstream.close().then(() => process.exit(0)));
