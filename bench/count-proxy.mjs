// A loopback reverse proxy that counts the blob bytes it serves, so a benchmark
// can state how much each tool read from its source.
//   node bench/count-proxy.mjs 127.0.0.1:5002 stats.json   (prints the port it listens on)
// stats.json: { "blobGets": n, "blobBytes": n, "manifestGets": n, "requests": n }, rewritten after each response.
import { Agent, createServer, request } from 'node:http';
import { writeFileSync } from 'node:fs';

const [target, statsFile] = process.argv.slice(2);
const [host, port] = target.split(':');
const agent = new Agent({ keepAlive: true });
const stats = { blobGets: 0, blobBytes: 0, manifestGets: 0, requests: 0 };
const save = () => writeFileSync(statsFile, JSON.stringify(stats));
save();
const server = createServer((req, res) => {
  stats.requests++;
  const blob = req.method === 'GET' && /\/blobs\/sha256:/.test(req.url);
  if (req.method === 'GET' && /\/manifests\//.test(req.url)) stats.manifestGets++;
  const headers = { ...req.headers };
  delete headers.connection;
  const up = request({ host, port, method: req.method, path: req.url, headers, agent }, (upRes) => {
    res.writeHead(upRes.statusCode, upRes.headers);
    if (blob) stats.blobGets++;
    upRes.on('data', (c) => {
      if (blob) stats.blobBytes += c.length;
    });
    upRes.pipe(res);
    upRes.on('end', save);
  });
  up.on('error', () => res.destroy());
  req.pipe(up);
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
process.on('SIGTERM', () => {
  save();
  process.exit(0);
});
