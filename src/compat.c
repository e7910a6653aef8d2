/* Lua-version compatibility helpers (see compat.h). */
#include "compat.h"

#if LUA_VERSION_NUM < 502
void gm_setfuncs(lua_State *L, const luaL_Reg *l, int nup)
{
    luaL_checkstack(L, nup + 1, "too many upvalues");
    for (; l->name != NULL; l++) {
        int i;
        for (i = 0; i < nup; i++)
            lua_pushvalue(L, -nup);
        lua_pushcclosure(L, l->func, nup);
        lua_setfield(L, -(nup + 2), l->name);
    }
    lua_pop(L, nup);
}

void gm_setmetatable(lua_State *L, const char *tname)
{
    luaL_getmetatable(L, tname);
    lua_setmetatable(L, -2);
}
#endif

void gm_newclass(lua_State *L, const char *tname, const luaL_Reg *methods,
                 const luaL_Reg *meta)
{
    luaL_newmetatable(L, tname);
    if (meta != NULL)
        gm_setfuncs(L, meta, 0);
    if (methods != NULL) {
        lua_newtable(L);
        gm_setfuncs(L, methods, 0);
        lua_setfield(L, -2, "__index");
    }
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
}
