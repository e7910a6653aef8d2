/* RS256 signing and SHA-256 for service-account credentials, on OpenSSL's
 * libcrypto (which libcurl's TLS already brings into the process).
 *
 *   core.rs256_sign(pem, data) -> signature | nil, message
 *       RSASSA-PKCS1-v1_5 with SHA-256 (JWS "RS256", RFC 7518 3.3) of
 *       `data` with the PEM private key `pem`: PKCS#8 ("BEGIN PRIVATE
 *       KEY", as in Google's service-account files) or PKCS#1 ("BEGIN RSA
 *       PRIVATE KEY"). The signature is raw bytes (base64url it for a JWT).
 *       An encrypted key is refused (no passphrase prompt), as is a key
 *       that is not RSA. Messages never quote the key.
 *   core.sha256(data) -> 32 bytes
 *
 * libcrypto objects are not Lua values: nothing here may raise while one
 * is alive. The output buffer is made (a gm_buf, freed by the collector on
 * a raise) before any of them, filled without raising, and every object
 * is freed before the result is pushed. OpenSSL's per-thread error queue
 * is emptied on failure, so that a later TLS handshake in libcurl does not
 * read our stale errors as its own.
 */
#include "core.h"

#include <limits.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

/* A passphrase callback that gives none: an encrypted PEM fails to load
 * instead of prompting on the terminal (OpenSSL's default). */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* Signs into `out`; NULL on success, else what went wrong (no key data). */
static const char *sign_into(gm_buf *out, const char *pem, size_t pem_len,
                             const unsigned char *data, size_t len)
{
    const char *err = NULL;
    BIO *bio = NULL;
    EVP_PKEY *pkey = NULL;
    EVP_MD_CTX *md = NULL;
    size_t sig_len = 0;

    if (pem_len > INT_MAX)
        return "the private key is too large";
    bio = BIO_new_mem_buf(pem, (int)pem_len);
    if (bio == NULL) {
        err = "not enough memory";
        goto done;
    }
    /* Reads PKCS#8 and the "traditional" PKCS#1 form alike. */
    pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    if (pkey == NULL) {
        err = "not a PEM private key, or one protected by a passphrase";
        goto done;
    }
    if (EVP_PKEY_base_id(pkey) != EVP_PKEY_RSA) {
        err = "the private key is not an RSA key";
        goto done;
    }
    md = EVP_MD_CTX_new();
    if (md == NULL) {
        err = "not enough memory";
        goto done;
    }
    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1
        || EVP_DigestSign(md, NULL, &sig_len, data, len) != 1) {
        err = "the key cannot sign";
        goto done;
    }
    if (!gm_buf_reserve(out, sig_len, GM_BUF_NO_LIMIT)) {
        err = "not enough memory";
        goto done;
    }
    if (EVP_DigestSign(md, (unsigned char *)out->data, &sig_len, data, len) != 1) {
        err = "signing failed";
        goto done;
    }
    out->len = sig_len;
done:
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    if (err != NULL)
        ERR_clear_error();
    return err;
}

static int rs256_sign(lua_State *L)
{
    size_t pem_len, len;
    const char *pem = luaL_checklstring(L, 1, &pem_len);
    const char *data = luaL_checklstring(L, 2, &len);
    gm_buf *out = gm_buf_push(L);
    const char *err = sign_into(out, pem, pem_len, (const unsigned char *)data, len);

    if (err != NULL) {
        gm_buf_free(out);
        lua_pushnil(L);
        lua_pushfstring(L, "rs256_sign: %s", err);
        return 2;
    }
    gm_buf_pushresult(L, out);
    return 1;
}

static int sha256(lua_State *L)
{
    size_t len;
    const char *data = luaL_checklstring(L, 1, &len);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (EVP_Digest(data, len, digest, &n, EVP_sha256(), NULL) != 1) {
        ERR_clear_error();
        return luaL_error(L, "sha256: digest failed");
    }
    lua_pushlstring(L, (const char *)digest, n);
    return 1;
}

void gemini_open_sign(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"rs256_sign", rs256_sign},
        {"sha256", sha256},
        {NULL, NULL}
    };
    gm_setfuncs(L, funcs, 0);
}
