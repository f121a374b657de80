// relay: listens on port P, forwards each byte to next port (if any) and sends reply back
import net from 'node:net';
const [port, next] = process.argv.slice(2).map(Number);
net
  .createServer((s) => {
    s.setNoDelay(true);
    if (!next) {
      s.on('data', (d) => s.write(d));
      return;
    }
    const n = net.connect(next, '127.0.0.1');
    n.setNoDelay(true);
    s.on('data', (d) => n.write(d));
    n.on('data', (d) => s.write(d));
  })
  .listen(port, '127.0.0.1', () => process.send?.('up'));
