/* token.c — OAuth2 token issuance for service-account JWTs (RS256, verified with
 * OpenSSL against --public-key) and refresh tokens, and the bearer check.
 * Issued tokens live in memory only: after a restart clients get 401 and must
 * fetch a new one, as they must when Google revokes a token. */
#include "token.h"

#include "codec.h"
#include "emulator.h"
#include "http.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define JWT_GRANT "urn:ietf:params:oauth:grant-type:jwt-bearer"
#define JWT_MAX_LIFETIME_S 3600
#define JWT_CLOCK_SKEW_S 300

struct issued_token {
    char *token;
    int64_t expires_us;
};

struct token_registry {
    EVP_PKEY *public_key; /* NULL: signatures not checked */
    int ttl_s;
    pthread_mutex_t lock;
    struct issued_token *tokens;
    size_t count;
    size_t cap;
};

static EVP_PKEY *read_public_key(const char *path, char *err, size_t err_size) {
    BIO *bio = BIO_new_file(path, "r");
    if (!bio) {
        snprintf(err, err_size, "cannot open public key %s", path);
        return NULL;
    }
    EVP_PKEY *key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    if (!key) {
        BIO_reset(bio);
        X509 *certificate = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (certificate) {
            key = X509_get_pubkey(certificate);
            X509_free(certificate);
        }
    }
    if (!key) {
        BIO_reset(bio);
        key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    }
    BIO_free(bio);
    ERR_clear_error();
    if (!key) {
        snprintf(err, err_size,
                 "%s holds no PEM public key (\"BEGIN PUBLIC KEY\"), certificate or private key",
                 path);
        return NULL;
    }
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
        snprintf(err, err_size, "%s: the key is not RSA (RS256 needs RSA)", path);
        EVP_PKEY_free(key);
        return NULL;
    }
    return key;
}

int token_registry_create(const char *public_key_path, int ttl_s, struct token_registry **out,
                          char *err, size_t err_size) {
    struct token_registry *registry = xcalloc(1, sizeof *registry);
    registry->ttl_s = ttl_s;
    pthread_mutex_init(&registry->lock, NULL);
    if (public_key_path) {
        registry->public_key = read_public_key(public_key_path, err, err_size);
        if (!registry->public_key) {
            token_registry_destroy(registry);
            return -1;
        }
    }
    *out = registry;
    return 0;
}

void token_registry_destroy(struct token_registry *registry) {
    if (!registry)
        return;
    for (size_t i = 0; i < registry->count; i++)
        free(registry->tokens[i].token);
    free(registry->tokens);
    EVP_PKEY_free(registry->public_key);
    pthread_mutex_destroy(&registry->lock);
    free(registry);
}

static char *issue(struct token_registry *registry) {
    char *random = random_hex(24);
    struct strbuf token;
    strbuf_init(&token);
    strbuf_printf(&token, "ya29.emulator.%s", random);
    free(random);
    char *text = strbuf_take(&token, NULL);
    int64_t now = now_micros();
    pthread_mutex_lock(&registry->lock);
    size_t kept = 0;
    for (size_t i = 0; i < registry->count; i++) {
        if (registry->tokens[i].expires_us > now)
            registry->tokens[kept++] = registry->tokens[i];
        else
            free(registry->tokens[i].token);
    }
    registry->count = kept;
    if (registry->count == registry->cap) {
        registry->cap = registry->cap ? registry->cap * 2 : 16;
        registry->tokens = xrealloc(registry->tokens, registry->cap * sizeof *registry->tokens);
    }
    registry->tokens[registry->count++] =
        (struct issued_token){xstrdup(text), now + (int64_t)registry->ttl_s * 1000000};
    pthread_mutex_unlock(&registry->lock);
    return text;
}

static bool is_valid(struct token_registry *registry, const char *token) {
    int64_t now = now_micros();
    bool valid = false;
    pthread_mutex_lock(&registry->lock);
    for (size_t i = 0; i < registry->count && !valid; i++)
        valid =
            strcmp(registry->tokens[i].token, token) == 0 && registry->tokens[i].expires_us > now;
    pthread_mutex_unlock(&registry->lock);
    return valid;
}

static void reply_token(struct http_request *req, struct http_reply *reply) {
    struct token_registry *registry = req->emu->tokens;
    char *token = issue(registry);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "access_token", token);
    cJSON_AddNumberToObject(root, "expires_in", registry->ttl_s);
    cJSON_AddStringToObject(root, "token_type", "Bearer");
    free(token);
    STAT_ADD(req->emu, tokens_issued, 1);
    reply_json(reply, 200, root);
}

static cJSON *decode_jwt_part(const char *text, size_t len) {
    unsigned char *bytes;
    size_t bytes_len;
    if (!base64_decode(text, len, &bytes, &bytes_len))
        return NULL;
    cJSON *json = cJSON_ParseWithLength((const char *)bytes, bytes_len);
    free(bytes);
    return json;
}

static bool audience_matches(struct http_request *req, const char *aud) {
    struct emulator *emu = req->emu;
    char expected[600];
    snprintf(expected, sizeof expected, "%s/token", emu->base_url);
    if (strcmp(aud, expected) == 0)
        return true;
    const char *host = request_header(req, "Host");
    if (host) {
        snprintf(expected, sizeof expected, "http://%s/token", host);
        if (strcmp(aud, expected) == 0)
            return true;
    }
    if (emu->config.token_audience && strcmp(aud, emu->config.token_audience) == 0)
        return true;
    return strcmp(aud, "https://oauth2.googleapis.com/token") == 0 ||
           strcmp(aud, "https://www.googleapis.com/oauth2/v4/token") == 0 ||
           strcmp(aud, "https://accounts.google.com/o/oauth2/token") == 0;
}

static bool verify_signature(EVP_PKEY *key, const char *signed_part, size_t signed_len,
                             const char *signature_b64, size_t signature_len) {
    unsigned char *signature;
    size_t len;
    if (!base64_decode(signature_b64, signature_len, &signature, &len))
        return false;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok =
        ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
        EVP_DigestVerify(ctx, signature, len, (const unsigned char *)signed_part, signed_len) == 1;
    EVP_MD_CTX_free(ctx);
    free(signature);
    ERR_clear_error();
    return ok;
}

static void grant_error(struct http_request *req, struct http_reply *reply, const char *error,
                        const char *description) {
    STAT_ADD(req->emu, token_errors, 1);
    reply_oauth_error(reply, 400, error, description);
}

static void handle_jwt(struct http_request *req, struct http_reply *reply, const char *assertion) {
    const char *first_dot = strchr(assertion, '.');
    const char *second_dot = first_dot ? strchr(first_dot + 1, '.') : NULL;
    if (!second_dot || strchr(second_dot + 1, '.')) {
        grant_error(req, reply, "invalid_grant",
                    "Invalid JWT: the assertion is not header.payload.signature");
        return;
    }
    cJSON *header = decode_jwt_part(assertion, (size_t)(first_dot - assertion));
    cJSON *claims = decode_jwt_part(first_dot + 1, (size_t)(second_dot - first_dot - 1));
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(header, "alg");
    const cJSON *iss = cJSON_GetObjectItemCaseSensitive(claims, "iss");
    const cJSON *aud = cJSON_GetObjectItemCaseSensitive(claims, "aud");
    const cJSON *scope = cJSON_GetObjectItemCaseSensitive(claims, "scope");
    const cJSON *iat = cJSON_GetObjectItemCaseSensitive(claims, "iat");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(claims, "exp");
    double now = (double)now_micros() / 1e6;
    char message[700];
    if (!cJSON_IsObject(header) || !cJSON_IsObject(claims)) {
        grant_error(req, reply, "invalid_grant",
                    "Invalid JWT: header or claims are not base64url JSON");
    } else if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "RS256") != 0) {
        grant_error(req, reply, "invalid_grant", "Invalid JWT: the algorithm must be RS256");
    } else if (!cJSON_IsString(iss) || iss->valuestring[0] == '\0') {
        grant_error(req, reply, "invalid_grant", "Invalid JWT: No iss claim");
    } else if (!cJSON_IsString(aud) || !audience_matches(req, aud->valuestring)) {
        snprintf(message, sizeof message,
                 "Invalid JWT: Failed audience check. The right audience is %s/token",
                 req->emu->base_url);
        grant_error(req, reply, "invalid_grant", message);
    } else if (!cJSON_IsString(scope) || scope->valuestring[0] == '\0') {
        grant_error(req, reply, "invalid_scope",
                    "Invalid OAuth scope or ID token audience provided.");
    } else if (!cJSON_IsNumber(iat) || !cJSON_IsNumber(exp) || exp->valuedouble <= now ||
               iat->valuedouble > now + JWT_CLOCK_SKEW_S || exp->valuedouble <= iat->valuedouble ||
               exp->valuedouble - iat->valuedouble > JWT_MAX_LIFETIME_S) {
        grant_error(req, reply, "invalid_grant",
                    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a"
                    " reasonable timeframe. Check your iat and exp values in the JWT claim.");
    } else if (req->emu->tokens->public_key &&
               !verify_signature(req->emu->tokens->public_key, assertion,
                                 (size_t)(second_dot - assertion), second_dot + 1,
                                 strlen(second_dot + 1))) {
        grant_error(req, reply, "invalid_grant", "Invalid JWT Signature.");
    } else {
        reply_token(req, reply);
    }
    cJSON_Delete(header);
    cJSON_Delete(claims);
}

void token_handle(struct http_request *req, struct http_reply *reply) {
    char *grant = form_value(req->body, req->body_len, "grant_type");
    if (!grant) {
        grant_error(req, reply, "invalid_request", "Missing required parameter: grant_type");
    } else if (strcmp(grant, JWT_GRANT) == 0) {
        char *assertion = form_value(req->body, req->body_len, "assertion");
        if (!assertion || !assertion[0])
            grant_error(req, reply, "invalid_request", "Missing required parameter: assertion");
        else
            handle_jwt(req, reply, assertion);
        free(assertion);
    } else if (strcmp(grant, "refresh_token") == 0) {
        char *refresh = form_value(req->body, req->body_len, "refresh_token");
        char *client = form_value(req->body, req->body_len, "client_id");
        if (!refresh || !refresh[0])
            grant_error(req, reply, "invalid_request", "Missing required parameter: refresh_token");
        else if (!client || !client[0])
            grant_error(req, reply, "invalid_request",
                        "Could not determine client ID from request.");
        else if (strncmp(refresh, "revoked", 7) == 0)
            grant_error(req, reply, "invalid_grant", "Token has been expired or revoked.");
        else
            reply_token(req, reply);
        free(refresh);
        free(client);
    } else {
        char message[300];
        snprintf(message, sizeof message, "Invalid grant_type: %.200s", grant);
        grant_error(req, reply, "unsupported_grant_type", message);
    }
    free(grant);
}

static void reply_unauthenticated(struct http_reply *reply, bool missing) {
    const char *message =
        missing ? "Request is missing required authentication credential. Expected OAuth 2 access"
                  " token, login cookie or other valid authentication credential. See"
                  " https://developers.google.com/identity/sign-in/web/devconsole-project."
                : "Request had invalid authentication credentials. Expected OAuth 2 access token,"
                  " login cookie or other valid authentication credential. See"
                  " https://developers.google.com/identity/sign-in/web/devconsole-project.";
    cJSON *root = cJSON_CreateObject();
    cJSON *error = cJSON_AddObjectToObject(root, "error");
    cJSON_AddNumberToObject(error, "code", 401);
    cJSON_AddStringToObject(error, "message", message);
    cJSON *item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "message", missing ? "Login Required." : "Invalid Credentials");
    cJSON_AddStringToObject(item, "domain", "global");
    cJSON_AddStringToObject(item, "reason", missing ? "required" : "authError");
    cJSON_AddStringToObject(item, "location", "Authorization");
    cJSON_AddStringToObject(item, "locationType", "header");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(error, "errors"), item);
    cJSON_AddStringToObject(error, "status", "UNAUTHENTICATED");
    reply_json(reply, 401, root);
    reply->www_authenticate = missing ? "Bearer realm=\"https://accounts.google.com/\""
                                      : "Bearer realm=\"https://accounts.google.com/\","
                                        " error=\"invalid_token\"";
}

bool token_authorize(struct http_request *req, struct http_reply *reply) {
    struct emulator *emu = req->emu;
    if (!emu->config.require_auth)
        return true;
    const char *header = request_header(req, "Authorization");
    if (!header || strncasecmp(header, "Bearer ", 7) != 0) {
        STAT_ADD(emu, auth_failures, 1);
        reply_unauthenticated(reply, true);
        return false;
    }
    const char *token = header + 7;
    while (*token == ' ')
        token++;
    if (!is_valid(emu->tokens, token)) {
        STAT_ADD(emu, auth_failures, 1);
        reply_unauthenticated(reply, false);
        return false;
    }
    return true;
}
