# gemini: Lua module with a C core (gemini.core) on libcurl.
#
#   make                    build build/lua5.4/gemini/core.so
#   make LUA=luajit         ... for LuaJIT (also lua5.1, lua5.3)
#   make test               busted suite on Lua 5.4 and LuaJIT
#   make test-asan          the suite once under AddressSanitizer + UBSan
#   make install            install for $(LUA) under $(PREFIX) (bin/gemini-lua too)
#   make demo               install what is missing, build, run the quickstart
#   make check              install what is missing, build, run the tests
#   make docs               install LDoc if missing, write the reference to docs/html
#   make bench              benchmarks vs @google/genai and curl -> bench/RESULTS.md

LUA        ?= lua5.4
CC         ?= cc
PKG_CONFIG ?= pkg-config
PREFIX     ?= /usr/local
BUSTED     ?= /usr/bin/busted
TEST_LUAS  ?= lua5.4 luajit
SPECS      ?= spec

# pkg-config names: lua5.1, lua5.3, lua5.4 and luajit are all known to Debian.
LUA_PC      = $(LUA)
LUA_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags $(LUA_PC))
LUA_ABI    ?= $(shell $(LUA) -e 'print((_VERSION:gsub("Lua ", "")))')
CURL_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags libcurl)
CURL_LIBS  ?= $(shell $(PKG_CONFIG) --libs libcurl)
# libcrypto (OpenSSL): RS256 signatures of service-account JWTs
# (src/sign.c), SHA-1 and random bytes of the WebSocket handshake and masks
# (src/ws.c); libcurl's TLS already loads it. -lcrypto when pkg-config does
# not know it.
CRYPTO_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags libcrypto 2>/dev/null)
CRYPTO_LIBS   ?= $(shell $(PKG_CONFIG) --libs libcrypto 2>/dev/null || echo -lcrypto)

# -fvisibility=hidden: the shared object exports luaopen_gemini_core only
# (GM_EXPORT in src/core.h); the gm_* functions the parts share stay
# internal (check: nm -D --defined-only build/$(LUA)/gemini/core.so).
WARN       = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS     ?= -O2 -g
ALL_CFLAGS = -std=c99 -D_POSIX_C_SOURCE=200809L -fPIC -fvisibility=hidden $(WARN) $(CFLAGS) $(LUA_CFLAGS) $(CURL_CFLAGS) $(CRYPTO_CFLAGS)
LDFLAGS_SO = -shared $(LDFLAGS)

SRCS  = src/core.c src/compat.c src/buf.c src/http.c src/sse.c src/json.c src/json_decode.c src/base64.c src/sign.c src/text.c src/ws.c src/ws_conn.c
HDRS  = $(wildcard src/*.h)
BUILD ?= build/$(LUA)
OBJS  = $(SRCS:src/%.c=$(BUILD)/obj/%.o)
SO    = $(BUILD)/gemini/core.so

.PHONY: all test test-one test-asan install clean deps demo check docs fuzz fuzz-build valgrind bench examples bench-upload bench-download bench-batch

all: $(SO)

# The Makefile too: a change of flags (-fvisibility) must rebuild.
$(BUILD)/obj/%.o: src/%.c $(HDRS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(SO): $(OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_SO) -o $@ $(OBJS) $(CURL_LIBS) $(CRYPTO_LIBS)

# Run the busted suite on one interpreter against its own build.
# LUA_INIT: see the valgrind target (luv must be loaded once per run).
test-one: $(SO)
	LUA_INIT='pcall(require, "luv")' LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;;" LUA_CPATH="$(BUILD)/?.so;;" \
	  $(LUA) $(BUSTED) --lpath="" --cpath="" $(BUSTED_ARGS) $(SPECS)

test:
	@set -e; for l in $(TEST_LUAS); do \
	  echo "== busted on $$l"; $(MAKE) --no-print-directory test-one LUA=$$l; done

# The sanitizers need their runtime loaded before the (uninstrumented) lua
# binary starts, hence LD_PRELOAD. Leak checking belongs to valgrind.
# The preload is inherited by child processes, so specs that drive other
# programs (nvim, nginx, curl in the mock's own spec, the suite re-run by
# the secrets audit, the command-line tool, luarocks, ldoc) are left to the
# plain runs; spec/support/mock.lua strips it for the mock server it starts.
ASAN_SPECS ?= $(filter-out spec/mock_spec.lua spec/nvim_spec.lua spec/openresty_spec.lua spec/examples_spec.lua spec/secrets_spec.lua spec/cli_spec.lua spec/rockspec_spec.lua spec/docs_spec.lua,$(sort $(wildcard spec/*_spec.lua)))
# float-cast-overflow is not part of "undefined" in gcc: a double out of
# range converted to an integer (a timeout of 1e300 s) must be caught too.
ASAN_SANITIZE = address,undefined,float-cast-overflow
ASAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=$(ASAN_SANITIZE) \
             -fno-sanitize-recover=undefined,float-cast-overflow
test-asan:
	$(MAKE) --no-print-directory all BUILD=build/asan-$(LUA) CC=gcc CFLAGS="$(ASAN_FLAGS)" LDFLAGS="-fsanitize=$(ASAN_SANITIZE)"
	LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	LUA_INIT='pcall(require, "luv")' \
	LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;;" LUA_CPATH="build/asan-$(LUA)/?.so;;" \
	  $(LUA) $(BUSTED) --lpath="" --cpath="" $(BUSTED_ARGS) $(ASAN_SPECS)

# libFuzzer targets (fuzz/*_fuzz.c; clang + libclang-rt-14-dev), each run
# for FUZZ_SECONDS from the seed corpus in fuzz/corpus/<name>; new inputs go
# to build/fuzz/corpus-<name>, a finding to build/fuzz/<kind>-<hash> and the
# run fails. The harness Lua code is compiled into the binary as a string.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= sse json json_decode base64 b64url ws
FUZZ_CC      ?= clang
FUZZ_FLAGS    = -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=undefined
FUZZ_LUA_PC   = lua5.4
fuzz-build: $(FUZZ_TARGETS:%=build/fuzz/%_fuzz)
.PRECIOUS: build/fuzz/%_fuzz.lua.h

build/fuzz/%_fuzz.lua.h: fuzz/%_fuzz.lua fuzz/embed.lua
	@mkdir -p $(dir $@)
	lua5.4 fuzz/embed.lua < $< > $@.tmp && mv $@.tmp $@

# The encoder's key rules, preloaded as gemini.keys by fuzz/fuzz_main.h.
build/fuzz/keys.lua.h: lua/gemini/keys.lua fuzz/embed.lua
	@mkdir -p $(dir $@)
	lua5.4 fuzz/embed.lua GEMINI_KEYS_LUA < $< > $@.tmp && mv $@.tmp $@

build/fuzz/%_fuzz: fuzz/%_fuzz.c fuzz/fuzz_main.h build/fuzz/%_fuzz.lua.h build/fuzz/keys.lua.h $(SRCS) $(HDRS)
	$(FUZZ_CC) $(FUZZ_FLAGS) -D_POSIX_C_SOURCE=200809L -Isrc -Ibuild/fuzz \
	  $$($(PKG_CONFIG) --cflags $(FUZZ_LUA_PC)) $(CURL_CFLAGS) $(CRYPTO_CFLAGS) \
	  fuzz/$*_fuzz.c $(SRCS) -o $@ $$($(PKG_CONFIG) --libs $(FUZZ_LUA_PC)) $(CURL_LIBS) $(CRYPTO_LIBS) -lm

fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  echo "== fuzzing $$t for $(FUZZ_SECONDS)s"; mkdir -p build/fuzz/corpus-$$t; \
	  if UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    build/fuzz/$${t}_fuzz -max_total_time=$(FUZZ_SECONDS) -timeout=20 -rss_limit_mb=2048 \
	      -max_len=4096 -detect_leaks=0 -print_final_stats=1 -artifact_prefix=build/fuzz/$$t- \
	      build/fuzz/corpus-$$t fuzz/corpus/$$t > build/fuzz/$$t.log 2>&1; \
	  then tail -n 4 build/fuzz/$$t.log; \
	  else tail -n 60 build/fuzz/$$t.log; echo "== $$t: finding above (log: build/fuzz/$$t.log)"; exit 1; fi; \
	done

# The busted suite under valgrind memcheck (VALGRIND_SPECS picks spec
# files; default all but the soak, whose 10,000 streams add nothing that
# the rest does not cover and would take long under valgrind, and the
# specs whose work is done by other programs: nvim, nginx, luarocks, ldoc,
# the examples and the command-line tool run outside valgrind). Only
# definite leaks and memory errors fail the run: busted ends with os.exit,
# so what is still reachable then is expected. .ci/valgrind.supp lists
# what Lua, libcurl and OpenSSL keep on purpose.
VALGRIND_SPECS ?= $(filter-out spec/soak_spec.lua spec/nvim_spec.lua spec/openresty_spec.lua spec/openresty_example_spec.lua spec/vertex_openresty_spec.lua spec/examples_spec.lua spec/cli_spec.lua spec/rockspec_spec.lua spec/docs_spec.lua spec/mock_spec.lua,$(sort $(wildcard spec/*_spec.lua)))
VALGRIND ?= valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite \
  --show-leak-kinds=definite --error-exitcode=99 --num-callers=30 \
  --suppressions=.ci/valgrind.supp
# LUA_INIT loads luv once for the whole run: busted unloads modules after
# each spec file, and luv loaded a second time into the same Lua state uses
# the default loop it freed when the first copy was collected (a luv
# limitation that memcheck reports as invalid writes, then a crash).
valgrind: $(SO)
	LUA_INIT='pcall(require, "luv")' GEMINI_SKIP_SUITE_AUDIT=1 \
	LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;;" LUA_CPATH="$(BUILD)/?.so;;" \
	  $(VALGRIND) $(LUA) $(BUSTED) --lpath="" --cpath="" $(BUSTED_ARGS) $(VALGRIND_SPECS); \
	rc=$$?; \
	if [ $$rc -ne 0 ] && [ $$rc -ne 1 ]; then echo "== valgrind: memory errors, a definite leak or a crash (exit $$rc)"; exit 1; fi; \
	if [ $$rc -eq 1 ]; then echo "== valgrind: no memory error and no definite leak. Some specs failed"\
	  "under valgrind (see above): its 20-50x slowdown breaks timing limits; make test judges those."; fi

INSTALL_LMOD ?= $(PREFIX)/share/lua/$(LUA_ABI)
INSTALL_CMOD ?= $(PREFIX)/lib/lua/$(LUA_ABI)
# The command-line tool, run by the interpreter it was installed for and
# told where the module went. Empty: not installed (the rock installs and
# wraps it itself, build.install.bin).
INSTALL_BIN ?= $(PREFIX)/bin
LUA_BIN     ?= $(shell command -v $(LUA))
install: $(SO)
	install -d $(DESTDIR)$(INSTALL_CMOD)/gemini $(DESTDIR)$(INSTALL_LMOD)/gemini
	install -m 755 $(SO) $(DESTDIR)$(INSTALL_CMOD)/gemini/core.so
	cd lua && find gemini -name '*.lua' -exec install -D -m 644 {} $(DESTDIR)$(INSTALL_LMOD)/{} \;
	@if [ -n "$(INSTALL_BIN)" ]; then \
	  install -d $(DESTDIR)$(INSTALL_BIN) && \
	  sed -e '1s|.*|#!$(if $(filter /%,$(LUA_BIN)),$(LUA_BIN),/usr/bin/env $(LUA))|' \
	      -e 's|^local LMOD, CMOD = "", ""$$|local LMOD, CMOD = "$(INSTALL_LMOD)", "$(INSTALL_CMOD)"|' \
	      bin/gemini-lua > $(DESTDIR)$(INSTALL_BIN)/gemini-lua && \
	  chmod 755 $(DESTDIR)$(INSTALL_BIN)/gemini-lua && echo "installed $(INSTALL_BIN)/gemini-lua"; fi

# The two set-up commands of README.md.
deps:
	@sh .ci/install-deps

# The quickstart against the real API with a key, else the bundled mock.
demo: deps
	@$(MAKE) -s --no-print-directory all
	@LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="$(BUILD)/?.so;;" \
	  sh .ci/with-mock $(LUA) examples/quickstart.lua $(PROMPT)

check: deps
	@$(MAKE) --no-print-directory test

# Every example against the bundled mock (no key, stdin from /dev/null), each
# in a scratch directory so files they write (image.png) do not land here.
# live_audio.lua needs a WAV file to ask with: spec/examples_spec.lua runs it.
EXAMPLES = $(filter-out examples/live_audio.lua,$(wildcard examples/*.lua))
examples: $(SO)
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; fail=0; \
	for f in $(EXAMPLES); do \
	  echo "== $$f"; \
	  if (cd "$$tmp" && env -u GEMINI_API_KEY -u GOOGLE_API_KEY -u COMETAPI_KEY -u GEMINI_BASE_URL \
	      -u GEMINI_MODEL LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;" \
	      LUA_CPATH="$(CURDIR)/$(BUILD)/?.so;;" BATCH_POLL_INTERVAL=0.05 \
	      timeout 120 sh "$(CURDIR)/.ci/with-mock" $(LUA) "$(CURDIR)/$$f" < /dev/null); \
	  then :; else echo "FAILED: $$f"; fail=1; fi; \
	done; exit $$fail

# Benchmarks against @google/genai, curl and the floors (bench/RESULTS.md);
# not part of `make test`. Needs nginx-light, libnginx-mod-http-lua, time
# (.ci/install-deps --all); node + npm for the SDK baseline.
bench:
	@$(MAKE) -s --no-print-directory all LUA=lua5.4
	@$(MAKE) -s --no-print-directory all LUA=luajit
	@if command -v npm >/dev/null && [ ! -d bench/node/node_modules ]; then \
	  (cd bench/node && npm ci --no-audit --no-fund --loglevel=error) || echo "bench: npm ci failed"; fi
	LUA_PATH="lua/?.lua;lua/?/init.lua;bench/?.lua;;" LUA_CPATH="build/lua5.4/?.so;;" lua5.4 bench/run.lua

# Peak memory of a 1 GB (sparse) file uploaded to the mock: far below its size.
bench-upload: $(SO)
	LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;;" LUA_CPATH="$(BUILD)/?.so;;" $(LUA) bench/upload_memory.lua

# Peak memory of a 50 MB download written to disk (cut and resumed): flat.
bench-download: $(SO)
	LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;;" LUA_CPATH="$(BUILD)/?.so;;" $(LUA) bench/download_memory.lua

# Peak memory of reading a 1 GB batch result file line by line: flat.
bench-batch: $(SO)
	LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;;" LUA_CPATH="$(BUILD)/?.so;;" $(LUA) bench/batch_results_memory.lua

# The HTML reference of every public name, from the LDoc comments, with
# docs/API.md and the README as its topics (installs lua-ldoc and
# lua-markdown when missing, as `make demo` installs what it needs).
docs:
	@sh .ci/install-deps --docs
	@rm -rf docs/html   # no page left over from a module that is internal now
	ldoc -q .
	@echo "reference written to docs/html/index.html"

clean:
	rm -rf build
