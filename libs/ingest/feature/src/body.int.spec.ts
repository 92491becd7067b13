import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { lingerThenClose } from './body';

/**
 * A client in ANOTHER process (so that its stall does not stall the server) streams a body and,
 * part-way, blocks its event loop for 3 s — a busy client that has not read the 413 yet while the
 * server has answered it. It prints what it saw: `RESP <status>` or `ERR <code>`.
 */
const CLIENT = `
const http = require('node:http');
const r = http.request({ agent: false, port: Number(process.argv[1]), method: 'POST', path: '/' });
r.on('response', (res) => { console.log('RESP ' + res.statusCode); process.exit(0); });
r.on('error', (e) => { console.log('ERR ' + e.code); process.exit(0); });
const chunk = Buffer.alloc(64 * 1024, 7);
let i = 0;
(function write() {
  while (i < 256) {
    i++;
    if (i === 40) { const t = Date.now(); while (Date.now() - t < 3000) {} }
    if (!r.write(chunk)) { r.once('drain', write); return; }
  }
})();
`;

function runClient(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', CLIENT, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.once('error', reject);
    child.once('exit', () => resolve(out.trim()));
  });
}

describe('lingerThenClose: a refusal in the middle of a body reaches a client that is still sending', () => {
  let server: Server;
  afterEach(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** 413 once 1 MB of the body has arrived; `linger` decides whether lingerThenClose is used. */
  async function start(linger: boolean): Promise<number> {
    server = createServer((req, res) => {
      let n = 0;
      const onData = (c: Buffer) => {
        n += c.length;
        if (n <= 1_000_000) return;
        req.off('data', onData);
        if (linger) lingerThenClose(req, res, { idleMs: 5_000, maxMs: 30_000 });
        else req.resume();
        res.statusCode = 413;
        res.setHeader('content-type', 'application/json');
        res.end('{"code":"INGEST_TOO_LARGE"}');
      };
      req.on('data', onData);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }

  it("Node's default (close right after the answer) loses the 413 to a busy client: the reason for the linger", async () => {
    expect(await runClient(await start(false))).toMatch(/^ERR (EPIPE|ECONNRESET)$/);
  });

  it('with lingerThenClose the busy client reads the 413', async () => {
    expect(await runClient(await start(true))).toBe('RESP 413');
  });
});
