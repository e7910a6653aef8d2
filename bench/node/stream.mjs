// Workload 1 with @google/genai: consume one streamed answer.
import { ai, now, result } from "./common.mjs";

const t0 = now();
let n = 0, bytes = 0;
const stream = await ai.models.generateContentStream({ model: "gemini-2.5-flash", contents: "Go" });
for await (const chunk of stream) {
  n++;
  bytes += chunk.text.length;
}
result(now() - t0, n);
