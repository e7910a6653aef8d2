// Cold start with @google/genai: a fresh process imports the SDK, makes a
// client, asks once over TLS (BENCH_URL the bench server's https:// URL,
// NODE_EXTRA_CA_CERTS its certificate), prints the answer and exits;
// bench/run.lua times the whole process by its wall clock.
import { GoogleGenAI } from "@google/genai";

const ai = new GoogleGenAI({ apiKey: "bench-dummy-key", httpOptions: { baseUrl: process.env.BENCH_URL } });
const res = await ai.models.generateContent({ model: "gemini-2.5-flash", contents: "Say hello" });
console.log(res.text);
