/*
 * auth.c — Google credentials for the BigQuery sink, in SPEC §3's order:
 * auth = "none"; the `credentials` file or $GOOGLE_APPLICATION_CREDENTIALS
 * (service_account: an RS256-signed JWT exchanged at its token_uri;
 * authorized_user: its refresh token); else the GCE/GKE metadata server.
 * Access tokens are cached and refreshed before they expire, one fetch at a
 * time. Secrets (keys, refresh tokens, access tokens) never reach a log line
 * or an errstr.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sink_bigquery.h"

#define CREDENTIALS_MAX_BYTES (1 << 20)
/* Refresh this long before expiry at most (and at 80% of a short lifetime). */
#define REFRESH_MARGIN_US (60LL * 1000000)

static char *copy_string(const char *text) { return text ? strdup(text) : NULL; }

/* Frees a string that held a secret, wiping it first. */
static void free_secret(char *text) {
    if (!text)
        return;
    OPENSSL_cleanse(text, strlen(text));
    free(text);
}

/* A non-empty string member of `object`, or NULL. */
static const char *member_string(const cJSON *object, const char *name) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
    return cJSON_IsString(item) && item->valuestring[0] ? item->valuestring : NULL;
}

/* Wipes the secret members of a parsed credentials file before it is freed. */
static void wipe_secrets(cJSON *root) {
    static const char *const secrets[] = {"private_key", "client_secret", "refresh_token"};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        cJSON *item = cJSON_GetObjectItemCaseSensitive(root, secrets[i]);
        if (cJSON_IsString(item))
            OPENSSL_cleanse(item->valuestring, strlen(item->valuestring));
    }
}

/* Reads the whole file (at most CREDENTIALS_MAX_BYTES). */
static char *read_file(const char *path, size_t *len_out, char *why, size_t why_size) {
    FILE *file = fopen(path, "rb");
    if (!file) {
        snprintf(why, why_size, "cannot open: %s", strerror(errno));
        return NULL;
    }
    char *text = malloc(CREDENTIALS_MAX_BYTES + 1);
    size_t len = text ? fread(text, 1, CREDENTIALS_MAX_BYTES + 1, file) : 0;
    int failed = text && ferror(file);
    fclose(file);
    if (!text || failed || len > CREDENTIALS_MAX_BYTES) {
        snprintf(why, why_size, "%s",
                 !text    ? "out of memory"
                 : failed ? "read error"
                          : "larger than 1 MiB");
        free(text);
        return NULL;
    }
    text[len] = '\0';
    *len_out = len;
    return text;
}

static int load_service_account(bq_auth *auth, const cJSON *root, const char *token_uri_option,
                                char *why, size_t why_size) {
    const char *email = member_string(root, "client_email");
    const char *pem = member_string(root, "private_key");
    if (!email || !pem) {
        snprintf(why, why_size, "service_account without \"%s\"",
                 !email ? "client_email" : "private_key");
        return -1;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)strlen(pem));
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    ERR_clear_error();
    if (!key || EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
        EVP_PKEY_free(key);
        snprintf(why, why_size, "private_key is not a PEM RSA private key");
        return -1;
    }
    const char *token_uri = token_uri_option ? token_uri_option : member_string(root, "token_uri");
    auth->kind = BQ_AUTH_SERVICE_ACCOUNT;
    auth->key = key;
    auth->client_email = copy_string(email);
    auth->private_key_id = copy_string(member_string(root, "private_key_id"));
    auth->token_url = copy_string(token_uri ? token_uri : BQ_DEFAULT_TOKEN_URI);
    return auth->client_email && auth->token_url ? 0 : -1;
}

static int load_authorized_user(bq_auth *auth, const cJSON *root, const char *token_uri_option,
                                char *why, size_t why_size) {
    const char *client_id = member_string(root, "client_id");
    const char *client_secret = member_string(root, "client_secret");
    const char *refresh_token = member_string(root, "refresh_token");
    if (!client_id || !client_secret || !refresh_token) {
        snprintf(why, why_size, "authorized_user without \"%s\"",
                 !client_id       ? "client_id"
                 : !client_secret ? "client_secret"
                                  : "refresh_token");
        return -1;
    }
    const char *token_uri = token_uri_option ? token_uri_option : member_string(root, "token_uri");
    auth->kind = BQ_AUTH_AUTHORIZED_USER;
    auth->client_id = copy_string(client_id);
    auth->client_secret = copy_string(client_secret);
    auth->refresh_token = copy_string(refresh_token);
    auth->token_url = copy_string(token_uri ? token_uri : BQ_DEFAULT_TOKEN_URI);
    return auth->client_id && auth->client_secret && auth->refresh_token && auth->token_url ? 0
                                                                                            : -1;
}

/* Parses a credentials file; on failure errstr is "<label> <path>: <why>". */
static int load_credentials(bq_auth *auth, const char *label, const char *path,
                            const char *token_uri_option, char *errstr, size_t errstr_size) {
    char why[256] = "out of memory";
    size_t len = 0;
    char *text = read_file(path, &len, why, sizeof(why));
    cJSON *root = text ? cJSON_ParseWithLength(text, len) : NULL;
    int rc = -1;
    if (text && !root) {
        snprintf(why, sizeof(why), "not valid JSON");
    } else if (root && !cJSON_IsObject(root)) {
        snprintf(why, sizeof(why), "not a JSON object");
    } else if (root) {
        const char *type = member_string(root, "type");
        if (!type)
            snprintf(why, sizeof(why),
                     "no \"type\" (expected \"service_account\" or \"authorized_user\")");
        else if (strcmp(type, "service_account") == 0)
            rc = load_service_account(auth, root, token_uri_option, why, sizeof(why));
        else if (strcmp(type, "authorized_user") == 0)
            rc = load_authorized_user(auth, root, token_uri_option, why, sizeof(why));
        else
            snprintf(why, sizeof(why),
                     "type \"%.64s\" is not supported (use a service_account or authorized_user "
                     "file, or the metadata server)",
                     type);
        wipe_secrets(root);
    }
    cJSON_Delete(root);
    if (text) {
        OPENSSL_cleanse(text, len);
        free(text);
    }
    if (rc != 0) {
        snprintf(errstr, errstr_size, "%s %s: %s", label, path, why);
        return -1;
    }
    size_t source_size = strlen(label) + strlen(path) + 2;
    auth->source = malloc(source_size);
    if (!auth->source) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    snprintf(auth->source, source_size, "%s %s", label, path);
    return 0;
}

int bq_auth_init(bq_sink *sink, const beast_config *config, char *errstr, size_t errstr_size) {
    const beast_host_api *api = sink->api;
    bq_auth *auth = &sink->auth;
    memset(auth, 0, sizeof(*auth));
    if (pthread_mutex_init(&auth->lock, NULL) != 0) {
        snprintf(errstr, errstr_size, "cannot create a mutex");
        return -1;
    }
    const char *mode = api->config_string(config, "auth");
    if (mode && strcmp(mode, "none") == 0) {
        auth->kind = BQ_AUTH_NONE;
        return 0;
    }
    if (!mode || strcmp(mode, "auto") != 0) {
        snprintf(errstr, errstr_size, "auth: \"%s\" is not one of \"auto\", \"none\"",
                 mode ? mode : "");
        return -1;
    }
    const char *token_uri = api->config_string(config, "token_uri");
    if (token_uri && !token_uri[0])
        token_uri = NULL;
    const char *path = api->config_string(config, "credentials");
    if (path && path[0])
        return load_credentials(auth, "credentials", path, token_uri, errstr, errstr_size);
    path = getenv("GOOGLE_APPLICATION_CREDENTIALS");
    if (path && path[0])
        return load_credentials(auth, "$GOOGLE_APPLICATION_CREDENTIALS", path, token_uri, errstr,
                                errstr_size);

    /* The metadata server: the option, else $GCE_METADATA_HOST as Google's
     * client libraries honour it, else the default name. */
    const char *server = api->config_string(config, "metadata_server");
    const char *host = getenv("GCE_METADATA_HOST");
    char base[512];
    if (!api->config_is_set(config, "metadata_server") && host && host[0])
        snprintf(base, sizeof(base), "http://%s", host);
    else
        snprintf(base, sizeof(base), "%s", server ? server : "http://metadata.google.internal");
    size_t base_len = strlen(base);
    while (base_len > 0 && base[base_len - 1] == '/')
        base[--base_len] = '\0';
    static const char path_tail[] = "/computeMetadata/v1/instance/service-accounts/default/token";
    auth->kind = BQ_AUTH_METADATA;
    auth->token_url = malloc(base_len + sizeof(path_tail));
    auth->source = malloc(base_len + 32);
    if (!auth->token_url || !auth->source) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    snprintf(auth->token_url, base_len + sizeof(path_tail), "%s%s", base, path_tail);
    snprintf(auth->source, base_len + 32, "metadata server %s", base);
    return 0;
}

void bq_auth_destroy(bq_auth *auth) {
    EVP_PKEY_free(auth->key);
    free(auth->source);
    free(auth->token_url);
    free(auth->client_email);
    free(auth->private_key_id);
    free(auth->client_id);
    free_secret(auth->client_secret);
    free_secret(auth->refresh_token);
    free_secret(auth->access_token);
    pthread_mutex_destroy(&auth->lock);
    memset(auth, 0, sizeof(*auth));
}

const char *bq_auth_describe(const bq_auth *auth, char *out, size_t out_size) {
    switch (auth->kind) {
    case BQ_AUTH_NONE:
        snprintf(out, out_size, "no authentication (auth = \"none\")");
        break;
    case BQ_AUTH_SERVICE_ACCOUNT:
        snprintf(out, out_size, "service account %s from %s, tokens from %s", auth->client_email,
                 auth->source, auth->token_url);
        break;
    case BQ_AUTH_AUTHORIZED_USER:
        snprintf(out, out_size, "authorized user from %s, tokens from %s", auth->source,
                 auth->token_url);
        break;
    case BQ_AUTH_METADATA:
        snprintf(out, out_size, "%s", auth->source);
        break;
    }
    return out;
}

/* Appends base64url (no padding) of `len` bytes to out; 0 or -1. */
static int append_base64url(bq_sink *sink, beast_buf *out, const void *data, size_t len) {
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if (sink->api->buf_reserve(out, (len + 2) / 3 * 4 + 1) != 0)
        return -1;
    const unsigned char *in = data;
    char *p = out->data + out->len;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t word = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *p++ = alphabet[word >> 18];
        *p++ = alphabet[(word >> 12) & 63];
        *p++ = alphabet[(word >> 6) & 63];
        *p++ = alphabet[word & 63];
    }
    if (i < len) {
        uint32_t word = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
        *p++ = alphabet[word >> 18];
        *p++ = alphabet[(word >> 12) & 63];
        if (i + 1 < len)
            *p++ = alphabet[(word >> 6) & 63];
    }
    out->len = (size_t)(p - out->data);
    out->data[out->len] = '\0';
    return 0;
}

/* The signed assertion of the JWT-bearer grant, in out (NUL-terminated). */
static int make_assertion(bq_sink *sink, beast_buf *out, char *why, size_t why_size) {
    bq_auth *auth = &sink->auth;
    int64_t now = (int64_t)time(NULL);
    cJSON *header = cJSON_CreateObject();
    cJSON *claims = cJSON_CreateObject();
    char *header_text = NULL, *claims_text = NULL;
    unsigned char *signature = NULL;
    EVP_MD_CTX *context = NULL;
    int rc = -1;
    snprintf(why, why_size, "out of memory");
    if (!header || !claims || !cJSON_AddStringToObject(header, "alg", "RS256") ||
        !cJSON_AddStringToObject(header, "typ", "JWT") ||
        (auth->private_key_id && !cJSON_AddStringToObject(header, "kid", auth->private_key_id)) ||
        !cJSON_AddStringToObject(claims, "iss", auth->client_email) ||
        !cJSON_AddStringToObject(claims, "scope", BQ_SCOPE) ||
        !cJSON_AddStringToObject(claims, "aud", auth->token_url) ||
        !cJSON_AddNumberToObject(claims, "iat", (double)now) ||
        !cJSON_AddNumberToObject(claims, "exp", (double)(now + 3600)))
        goto done;
    header_text = cJSON_PrintUnformatted(header);
    claims_text = cJSON_PrintUnformatted(claims);
    out->len = 0;
    if (!header_text || !claims_text ||
        append_base64url(sink, out, header_text, strlen(header_text)) != 0 ||
        bq_buf_append(sink, out, ".", 1) != 0 ||
        append_base64url(sink, out, claims_text, strlen(claims_text)) != 0)
        goto done;
    size_t signed_len = out->len;
    size_t signature_len = 0;
    context = EVP_MD_CTX_new();
    if (!context || EVP_DigestSignInit(context, NULL, EVP_sha256(), NULL, auth->key) != 1 ||
        EVP_DigestSign(context, NULL, &signature_len, (const unsigned char *)out->data,
                       signed_len) != 1 ||
        !(signature = malloc(signature_len)) ||
        EVP_DigestSign(context, signature, &signature_len, (const unsigned char *)out->data,
                       signed_len) != 1) {
        snprintf(why, why_size, "signing the JWT failed");
        ERR_clear_error();
        goto done;
    }
    if (bq_buf_append(sink, out, ".", 1) != 0 ||
        append_base64url(sink, out, signature, signature_len) != 0)
        goto done;
    rc = 0;
done:
    EVP_MD_CTX_free(context);
    free(signature);
    free(header_text);
    free(claims_text);
    cJSON_Delete(header);
    cJSON_Delete(claims);
    return rc;
}

/* Appends "&name=value" (value form-encoded) to out; 0 or -1. */
static int append_form(bq_sink *sink, bq_http *http, beast_buf *out, const char *name,
                       const char *value) {
    char *escaped = curl_easy_escape(http->easy, value, 0);
    if (!escaped)
        return -1;
    int rc = (out->len && bq_buf_append(sink, out, "&", 1) != 0) ||
                     bq_buf_append(sink, out, name, strlen(name)) != 0 ||
                     bq_buf_append(sink, out, "=", 1) != 0 ||
                     bq_buf_append(sink, out, escaped, strlen(escaped)) != 0
                 ? -1
                 : 0;
    OPENSSL_cleanse(escaped, strlen(escaped));
    curl_free(escaped);
    return rc;
}

/* Fetches a new access token into auth (called with auth->lock held).
 * OK; RETRY (unreachable, 5xx, 429, odd answer); FATAL (grant refused,
 * no metadata server). */
static beast_result fetch_token(bq_sink *sink, bq_http *http, char *errstr, size_t errstr_size) {
    bq_auth *auth = &sink->auth;
    beast_buf form = {0};
    char why[256] = "out of memory";
    int built = 0;
    if (auth->kind == BQ_AUTH_SERVICE_ACCOUNT) {
        beast_buf assertion = {0};
        built = make_assertion(sink, &assertion, why, sizeof(why)) == 0 &&
                append_form(sink, http, &form, "grant_type",
                            "urn:ietf:params:oauth:grant-type:jwt-bearer") == 0 &&
                append_form(sink, http, &form, "assertion", assertion.data) == 0;
        if (assertion.data)
            OPENSSL_cleanse(assertion.data, assertion.cap);
        sink->api->buf_free(&assertion);
    } else if (auth->kind == BQ_AUTH_AUTHORIZED_USER) {
        built = append_form(sink, http, &form, "grant_type", "refresh_token") == 0 &&
                append_form(sink, http, &form, "refresh_token", auth->refresh_token) == 0 &&
                append_form(sink, http, &form, "client_id", auth->client_id) == 0 &&
                append_form(sink, http, &form, "client_secret", auth->client_secret) == 0;
    } else {
        built = 1;
    }
    if (!built) {
        if (form.data)
            OPENSSL_cleanse(form.data, form.cap);
        sink->api->buf_free(&form);
        snprintf(errstr, errstr_size, "%s: %s", auth->source, why);
        return BEAST_RETRY;
    }
    int metadata = auth->kind == BQ_AUTH_METADATA;
    bq_request request = {
        .method = metadata ? "GET" : "POST",
        .url = auth->token_url,
        .content_type = metadata ? NULL : "application/x-www-form-urlencoded",
        .extra_header = metadata ? "Metadata-Flavor: Google" : NULL,
        .body = form.data,
        .body_len = form.len,
    };
    bq_response response;
    int sent = bq_http_send(sink, http, &request, &response);
    if (form.data)
        OPENSSL_cleanse(form.data, form.cap);
    sink->api->buf_free(&form);
    sink->api->metric_add(sink->self, "beast_bigquery_token_requests_total", 1);
    if (sent != 0) {
        if (metadata && response.curl_code == CURLE_COULDNT_RESOLVE_HOST) {
            snprintf(errstr, errstr_size,
                     "no credentials: set `credentials` or $GOOGLE_APPLICATION_CREDENTIALS to a "
                     "service account or authorized_user JSON file, or run on GCP (%s: %s)",
                     auth->source, response.transport);
            return BEAST_FATAL;
        }
        snprintf(errstr, errstr_size, "access token from %s: %s", auth->token_url,
                 response.transport);
        return BEAST_RETRY;
    }
    if (response.status != 200) {
        char reason[128], message[512];
        bq_error_describe(&response, reason, sizeof(reason), message, sizeof(message));
        /* The grant itself was refused (bad key, revoked token, no service
         * account on this machine): retrying cannot help. */
        int refused = response.status == 400 || response.status == 401 || response.status == 403 ||
                      (metadata && response.status == 404);
        snprintf(errstr, errstr_size, "%s: %s answered HTTP %ld%s%s%s%s", auth->source,
                 auth->token_url, response.status, reason[0] ? " " : "", reason,
                 message[0] ? ": " : "", message);
        return refused ? BEAST_FATAL : BEAST_RETRY;
    }
    cJSON *root = cJSON_ParseWithLength(response.body, response.body_len);
    const char *token = root ? member_string(root, "access_token") : NULL;
    const cJSON *expires = root ? cJSON_GetObjectItemCaseSensitive(root, "expires_in") : NULL;
    double lifetime_s = cJSON_IsNumber(expires)   ? expires->valuedouble
                        : cJSON_IsString(expires) ? atof(expires->valuestring)
                                                  : 300;
    char *copy = token ? copy_string(token) : NULL;
    if (root) {
        cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "access_token");
        if (cJSON_IsString(item))
            OPENSSL_cleanse(item->valuestring, strlen(item->valuestring));
    }
    cJSON_Delete(root);
    OPENSSL_cleanse(http->response.data, http->response.len);
    if (!copy) {
        snprintf(errstr, errstr_size, "%s: %s answered without an access_token", auth->source,
                 auth->token_url);
        return BEAST_RETRY;
    }
    if (lifetime_s < 1)
        lifetime_s = 1;
    int64_t now = sink->api->monotonic_us();
    int64_t lifetime_us = (int64_t)(lifetime_s * 1e6);
    int64_t margin = lifetime_us / 5 < REFRESH_MARGIN_US ? lifetime_us / 5 : REFRESH_MARGIN_US;
    free_secret(auth->access_token);
    auth->access_token = copy;
    auth->generation++;
    auth->expires_at_us = now + lifetime_us;
    auth->refresh_at_us = now + lifetime_us - margin;
    sink->api->metric_add(sink->self, "beast_bigquery_token_refreshes_total", 1);
    sink->api->log(sink->self, BEAST_LOG_INFO, "access token %llu from %s, expires in %.0f s",
                   (unsigned long long)auth->generation, auth->token_url, lifetime_s);
    return BEAST_OK;
}

beast_result bq_auth_header(bq_sink *sink, bq_http *http, uint64_t stale, char *header,
                            size_t header_size, uint64_t *generation, char *errstr,
                            size_t errstr_size) {
    bq_auth *auth = &sink->auth;
    header[0] = '\0';
    *generation = 0;
    if (auth->kind == BQ_AUTH_NONE)
        return BEAST_OK;
    pthread_mutex_lock(&auth->lock);
    int64_t now = sink->api->monotonic_us();
    int refused = stale != 0 && stale == auth->generation;
    if (refused)
        sink->api->log(sink->self, BEAST_LOG_INFO,
                       "access token %llu refused (HTTP 401): fetching a new one",
                       (unsigned long long)stale);
    if (!auth->access_token || refused || now >= auth->refresh_at_us) {
        beast_result result = fetch_token(sink, http, errstr, errstr_size);
        if (result != BEAST_OK) {
            /* Early refresh failed but the old token still works: use it. */
            int usable = auth->access_token && !refused && now + 1000000 < auth->expires_at_us;
            if (!usable) {
                pthread_mutex_unlock(&auth->lock);
                return result;
            }
            sink->api->log(sink->self, BEAST_LOG_WARN,
                           "token refresh failed, using the current token until it expires: %s",
                           errstr);
        }
    }
    int written = snprintf(header, header_size, "Authorization: Bearer %s", auth->access_token);
    *generation = auth->generation;
    pthread_mutex_unlock(&auth->lock);
    if (written < 0 || (size_t)written >= header_size) {
        OPENSSL_cleanse(header, header_size);
        header[0] = '\0';
        snprintf(errstr, errstr_size, "%s: access token longer than %zu bytes", auth->source,
                 header_size);
        return BEAST_FATAL;
    }
    return BEAST_OK;
}
