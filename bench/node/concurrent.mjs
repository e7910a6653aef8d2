// Workload 3 with @google/genai: N calls of 50 ms each, C promises in flight;
// over TLS when BENCH_URL is the server's https:// one (NODE_EXTRA_CA_CERTS
// its certificate).
import { ai, connections, now, result } from "./common.mjs";

const N = Number(process.argv[2] || 1000);
const C = Number(process.argv[3] || 50);
const before = await connections();
const t0 = now();
let next = 0, ok = 0;
async function worker() {
  while (next < N) {
    const i = next++;
    const res = await ai.models.generateContent({ model: "slow-50ms", contents: `Say hello ${i}` });
    if (res.text) ok++;
  }
}
await Promise.all(Array.from({ length: C }, worker));
const dt = now() - t0;
// The check: calls answered, and the connections they took.
const opened = (await connections()) - before;
result(dt, `${ok},conns=${Number.isNaN(opened) ? "?" : opened}`);
