# gemini: Lua module with a C core (gemini.core) on libcurl.
#
#   make                    build build/lua5.4/gemini/core.so
#   make LUA=luajit         ... for LuaJIT (also lua5.1, lua5.3)
#   make test               busted suite on Lua 5.4 and LuaJIT
#   make test-asan          the suite once under AddressSanitizer + UBSan
#   make install            install for $(LUA) under $(PREFIX)
#   make demo               install what is missing, build, run the quickstart
#   make check              install what is missing, build, run the tests

LUA        ?= lua5.4
CC         ?= cc
PKG_CONFIG ?= pkg-config
PREFIX     ?= /usr/local
BUSTED     ?= /usr/bin/busted
TEST_LUAS  ?= lua5.4 luajit

# pkg-config names: lua5.1, lua5.3, lua5.4 and luajit are all known to Debian.
LUA_PC      = $(LUA)
LUA_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags $(LUA_PC))
LUA_ABI    ?= $(shell $(LUA) -e 'print((_VERSION:gsub("Lua ", "")))')
CURL_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags libcurl)
CURL_LIBS  ?= $(shell $(PKG_CONFIG) --libs libcurl)

WARN       = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS     ?= -O2 -g
ALL_CFLAGS = -std=c99 -D_POSIX_C_SOURCE=200809L -fPIC $(WARN) $(CFLAGS) $(LUA_CFLAGS) $(CURL_CFLAGS)
LDFLAGS_SO = -shared $(LDFLAGS)

SRCS  = src/core.c src/compat.c src/http.c src/sse.c src/json.c src/base64.c
HDRS  = $(wildcard src/*.h)
BUILD ?= build/$(LUA)
OBJS  = $(SRCS:src/%.c=$(BUILD)/obj/%.o)
SO    = $(BUILD)/gemini/core.so

.PHONY: all test test-one test-asan install clean deps demo check

all: $(SO)

$(BUILD)/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(SO): $(OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_SO) -o $@ $(OBJS) $(CURL_LIBS)

# Run the busted suite on one interpreter against its own build.
test-one: $(SO)
	LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;;" LUA_CPATH="$(BUILD)/?.so;;" \
	  $(LUA) $(BUSTED) --lpath="" --cpath="" $(BUSTED_ARGS) spec

test:
	@set -e; for l in $(TEST_LUAS); do \
	  echo "== busted on $$l"; $(MAKE) --no-print-directory test-one LUA=$$l; done

# The sanitizers need their runtime loaded before the (uninstrumented) lua
# binary starts, hence LD_PRELOAD. Leak checking belongs to valgrind.
ASAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
test-asan:
	$(MAKE) --no-print-directory $(SO) BUILD=build/asan-$(LUA) CC=gcc CFLAGS="$(ASAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined"
	LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;;" LUA_CPATH="build/asan-$(LUA)/?.so;;" \
	  $(LUA) $(BUSTED) --lpath="" --cpath="" $(BUSTED_ARGS) spec

INSTALL_LMOD ?= $(PREFIX)/share/lua/$(LUA_ABI)
INSTALL_CMOD ?= $(PREFIX)/lib/lua/$(LUA_ABI)
install: $(SO)
	install -d $(DESTDIR)$(INSTALL_CMOD)/gemini $(DESTDIR)$(INSTALL_LMOD)/gemini
	install -m 755 $(SO) $(DESTDIR)$(INSTALL_CMOD)/gemini/core.so
	cd lua && find gemini -name '*.lua' -exec install -D -m 644 {} $(DESTDIR)$(INSTALL_LMOD)/{} \;

# The two set-up commands of README.md.
deps:
	@sh .ci/install-deps

demo: deps
	@$(MAKE) -s --no-print-directory all
	@LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;;" LUA_CPATH="$(BUILD)/?.so;;" \
	  $(LUA) examples/quickstart.lua $(PROMPT)

check: deps
	@$(MAKE) --no-print-directory test

clean:
	rm -rf build
