// Workload 2 with @google/genai: N sequential generateContent calls.
import { ai, now, result } from "./common.mjs";

const N = Number(process.argv[2] || 2000);
const t0 = now();
let ok = 0;
for (let i = 0; i < N; i++) {
  const res = await ai.models.generateContent({ model: "gemini-2.5-flash", contents: "Say hello" });
  if (res.text) ok++;
}
result(now() - t0, ok);
