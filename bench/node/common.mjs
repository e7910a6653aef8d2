// Shared bits of the Node workloads: the SDK client on the bench server,
// and the result line the driver (bench/run.lua) reads.
import { GoogleGenAI } from "@google/genai";
import { performance } from "node:perf_hooks";

export const url = process.env.BENCH_URL || "http://127.0.0.1:18437";
export const ai = new GoogleGenAI({ apiKey: "bench-dummy-key", httpOptions: { baseUrl: url } });
export const now = () => performance.now() / 1000;
// The server's count of connections that have carried "slow-" calls (NaN if
// it cannot be read): read before and after, how many the client opened.
export async function connections() {
  try {
    return Number(await (await fetch(`${url}/bench/connections`)).text());
  } catch {
    return NaN;
  }
}
export function result(seconds, check) {
  process.stdout.write(`result ${seconds.toFixed(6)} ${check}\n`);
}
