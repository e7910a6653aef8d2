// Shared bits of the Node workloads: the SDK client on the bench server,
// and the result line the driver (bench/run.lua) reads.
import { GoogleGenAI } from "@google/genai";
import { performance } from "node:perf_hooks";

export const url = process.env.BENCH_URL || "http://127.0.0.1:18437";
export const ai = new GoogleGenAI({ apiKey: "bench-dummy-key", httpOptions: { baseUrl: url } });
export const now = () => performance.now() / 1000;
export function result(seconds, check) {
  process.stdout.write(`result ${seconds.toFixed(6)} ${check}\n`);
}
