/* Lua-version compatibility for gemini.core.
 *
 * The module builds against Lua 5.1, 5.3, 5.4 and LuaJIT 2.1 (5.1 API).
 * Everything version-specific lives here so the other files are written
 * against one API (roughly 5.3's): no other file tests LUA_VERSION_NUM.
 */
#ifndef GEMINI_COMPAT_H
#define GEMINI_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 502
/* Lua 5.1 / LuaJIT */
#  define gm_rawlen(L, i) lua_objlen(L, i)
void gm_setfuncs(lua_State *L, const luaL_Reg *l, int nup);
void gm_setmetatable(lua_State *L, const char *tname);
#else
#  define gm_rawlen(L, i) lua_rawlen(L, i)
#  define gm_setfuncs(L, l, nup) luaL_setfuncs(L, l, nup)
#  define gm_setmetatable(L, tname) luaL_setmetatable(L, tname)
#endif

#if LUA_VERSION_NUM >= 504
#  define gm_newuserdata(L, sz) lua_newuserdatauv(L, sz, 0)
#else
#  define gm_newuserdata(L, sz) lua_newuserdata(L, sz)
#endif

/* Integer subtype: only 5.3+ has one (GM_INTEGERS is 1 there). On 5.1
 * every number is a double: the encoder writes an integral one without a
 * fraction, the decoder reads every number as a double. Code that names
 * 5.3's integer API (LUA_MAXINTEGER) sits under #if GM_INTEGERS. */
#if LUA_VERSION_NUM >= 503
#  define GM_INTEGERS 1
#  define gm_isinteger(L, i) lua_isinteger(L, i)
#else
#  define GM_INTEGERS 0
#  define gm_isinteger(L, i) 0
#endif

/* lua_rawseti takes an int index before 5.3: GM_INDEX_MAX is the largest
 * index gm_rawseti can set. */
#if LUA_VERSION_NUM >= 503
#  define GM_INDEX_MAX LUA_MAXINTEGER
#  define gm_rawseti(L, t, i) lua_rawseti(L, t, i)
#else
#  define GM_INDEX_MAX 0x7FFFFFFF
#  define gm_rawseti(L, t, i) lua_rawseti(L, t, (int)(i))
#endif

/* Registers a metatable `tname` with methods `methods` (as __index) and
 * metamethods `meta` (either may be NULL). Leaves nothing on the stack. */
void gm_newclass(lua_State *L, const char *tname, const luaL_Reg *methods,
                 const luaL_Reg *meta);

#endif
