package = "gemini"
version = "scm-1"
source = {
  url = "git+file:///dev/null",  -- built from a checkout: luarocks make
}
description = {
  summary = "The Google Gemini API for Lua, with a C core on libcurl",
  detailed = [[
    Generate, stream (SSE), count tokens, embed, chats, function calling,
    files and caches, against Google's Gemini API or a proxy serving the
    same format. Lua 5.1-5.4 and LuaJIT.
  ]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.1, < 5.5",
}
external_dependencies = {
  -- library only: luarocks 3.8 does not look in Debian's multiarch include dir
  CURL = { library = "curl" },
  -- libcrypto (OpenSSL): service-account JWT signatures (src/sign.c), the
  -- WebSocket handshake's SHA-1 and frame masks of the Live API (src/ws.c)
  CRYPTO = { library = "crypto", header = "openssl/evp.h" },
}
build = {
  type = "make",
  build_target = "all",
  build_variables = {
    LUA = "$(LUA)",
    -- One build folder per interpreter (build/rock-lua5.4, build/rock-lua5.1):
    -- LuaRocks substitutes $(LUA), make applies notdir, so the 5.4 and 5.1
    -- rocks built from one clone each get their own core.so.
    BUILD = "build/rock-$(notdir $(LUA))",
    -- CFLAGS replaces only the Makefile's -O2 -g: what the build needs
    -- (-std=c99, -fPIC, -fvisibility=hidden) is in its ALL_CFLAGS.
    CFLAGS = "$(CFLAGS)",
    LUA_CFLAGS = "-I$(LUA_INCDIR)",
    CURL_CFLAGS = "-I$(CURL_INCDIR)",
    CURL_LIBS = "-L$(CURL_LIBDIR) -lcurl",
    CRYPTO_CFLAGS = "-I$(CRYPTO_INCDIR)",
    CRYPTO_LIBS = "-L$(CRYPTO_LIBDIR) -lcrypto",
  },
  install_target = "install",
  install_variables = {
    LUA = "$(LUA)",
    BUILD = "build/rock-$(notdir $(LUA))",
    LUA_CFLAGS = "-I$(LUA_INCDIR)",
    CURL_CFLAGS = "-I$(CURL_INCDIR)",
    CURL_LIBS = "-L$(CURL_LIBDIR) -lcurl",
    CRYPTO_CFLAGS = "-I$(CRYPTO_INCDIR)",
    CRYPTO_LIBS = "-L$(CRYPTO_LIBDIR) -lcrypto",
    INSTALL_LMOD = "$(LUADIR)",
    INSTALL_CMOD = "$(LIBDIR)",
    INSTALL_BIN = "",   -- the command-line tool: build.install.bin below
  },
  -- LuaRocks installs it with a wrapper that runs the rock's interpreter.
  install = {
    bin = { ["gemini-lua"] = "bin/gemini-lua" },
  },
}
