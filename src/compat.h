/* Lua-version compatibility for gemini.core.
 *
 * The module builds against Lua 5.1, 5.3, 5.4 and LuaJIT 2.1 (5.1 API).
 * Everything version-specific lives here so the other files are written
 * against one API (roughly 5.3's).
 */
#ifndef GEMINI_COMPAT_H
#define GEMINI_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 502
/* Lua 5.1 / LuaJIT */
#  ifndef luaL_newlib
#    define luaL_newlibtable(L, l) lua_createtable(L, 0, sizeof(l) / sizeof((l)[0]) - 1)
#    define luaL_newlib(L, l) (luaL_newlibtable(L, l), gm_setfuncs(L, l, 0))
#  endif
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

/* Integer subtype: only 5.3+ has one. On 5.1 every number is a double and
 * an integral double is written without a fraction. */
#if LUA_VERSION_NUM >= 503
#  define gm_isinteger(L, i) lua_isinteger(L, i)
#else
#  define gm_isinteger(L, i) 0
#endif

/* luaL_testudata appeared in 5.2. */
void *gm_testudata(lua_State *L, int ud, const char *tname);

/* Registers a metatable `tname` with methods `methods` (as __index) and
 * metamethods `meta` (either may be NULL). Leaves nothing on the stack. */
void gm_newclass(lua_State *L, const char *tname, const luaL_Reg *methods,
                 const luaL_Reg *meta);

#endif
