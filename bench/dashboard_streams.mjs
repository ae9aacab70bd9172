// N open /events streams; ROUNDS times: commit one batch through blotter.apply_staged (a psql
// session kept open, as the consumer does) and time from the COMMIT to the moment the last of
// the N streams has the event. Prints JSON: {"streams", "rounds", "p50_ms", "p99_ms", "max_ms"}.
//   node dashboard_streams.mjs URL DSN N ROUNDS
import { spawn } from 'node:child_process';
import http from 'node:http';

const [url, dsn, nArg, roundsArg] = process.argv.slice(2);
const N = Number(nArg);
const ROUNDS = Number(roundsArg);
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
const streams = [];

function open() {
  return new Promise((resolve, reject) => {
    const s = { waiters: [], buf: '' };
    const req = http.get(`${url}/events`, { agent }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        s.buf += chunk;
        if (s.buf.includes('blotter live feed')) resolve(s);
        let i;
        while ((i = s.buf.indexOf('\n\n')) >= 0) {
          const frame = s.buf.slice(0, i);
          s.buf = s.buf.slice(i + 2);
          if (frame.includes('event: incidents')) {
            const t = performance.now();
            for (const w of s.waiters.splice(0)) w(t);
          }
        }
      });
    });
    req.on('error', reject);
    s.req = req;
  });
}
for (let i = 0; i < N; i += 50) {
  await Promise.all(Array.from({ length: Math.min(50, N - i) }, open)).then((a) => streams.push(...a));
}

const psql = spawn('psql', ['-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', dsn], { stdio: ['pipe', 'pipe', 'inherit'] });
let out = '';
const outWaiters = [];
psql.stdout.on('data', (d) => {
  out += d;
  for (const w of outWaiters.splice(0)) w();
});
const until = (token) => new Promise((resolve) => {
  const check = () => (out.includes(token) ? resolve() : outWaiters.push(check));
  check();
});
psql.stdin.write("SELECT blotter.ensure_partition(now());\n");
const lat = [];
for (let r = 0; r < ROUNDS; r++) {
  psql.stdin.write(`BEGIN; SELECT blotter.writer_session();
INSERT INTO blotter_stage (seq, city, incident_id, occurred_at, source_updated_at, category,
  crime_against, attributes, ingested_at, version_hash)
VALUES (0, 'bench-latency', 'r-${process.pid}-${r}', now(), now(), 'theft', 'property', '{}', now(), ${r});
SELECT count(*) FROM blotter.apply_staged();
\\echo ready-${r}
`);
  await until(`ready-${r}`);
  const got = streams.map((s) => new Promise((resolve) => s.waiters.push(resolve)));
  const t0 = performance.now();
  psql.stdin.write('COMMIT;\n');
  const times = await Promise.all(got);
  lat.push(Math.max(...times) - t0);
  await new Promise((r2) => setTimeout(r2, 100));
}
psql.stdin.end();
lat.sort((a, b) => a - b);
const q = (p) => lat[Math.min(lat.length - 1, Math.ceil(p * lat.length) - 1)];
console.log(JSON.stringify({ streams: streams.length, rounds: ROUNDS, p50_ms: +q(0.5).toFixed(1), p99_ms: +q(0.99).toFixed(1), max_ms: +lat[lat.length - 1].toFixed(1) }));
for (const s of streams) s.req.destroy();
process.exit(0);
