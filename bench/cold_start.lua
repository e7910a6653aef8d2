--- Cold start: the shape of a script or a Neovim command. A fresh process
-- requires the module, makes a client, asks once over TLS (BENCH_URL the
-- bench server's https:// URL, BENCH_CA its certificate), prints the
-- answer and exits; bench/run.lua times the whole process by its wall clock.
local gemini = require("gemini")

local client = gemini.Client{ api_key = "bench-dummy-key", base_url = os.getenv("BENCH_URL"),
                              ca_file = os.getenv("BENCH_CA") }
local res = assert(client.models:generate_content{ model = "gemini-2.5-flash", contents = "Say hello" })
print(res.text)
