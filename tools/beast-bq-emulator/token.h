/* token.h — the OAuth2 token endpoint (POST /token) and the bearer-token check
 * every BigQuery and GCS request passes when authentication is required. */
#ifndef BQEMU_TOKEN_H
#define BQEMU_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

struct token_registry;
struct http_request;
struct http_reply;

/* public_key_path may be NULL (JWT signatures are then not checked). Returns 0,
 * or -1 with a message in err when the key cannot be read or is not RSA. */
int token_registry_create(const char *public_key_path, int ttl_s, struct token_registry **out,
                          char *err, size_t err_size);
void token_registry_destroy(struct token_registry *registry);

/* POST /token: grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer (RS256 JWT
 * assertion: exp/iat/aud/scope checked, signature checked when a key is set) or
 * grant_type=refresh_token. Answers {"access_token","expires_in","token_type"}
 * or 400 {"error","error_description"} as Google's token endpoint does. */
void token_handle(struct http_request *req, struct http_reply *reply);

/* True when the request may proceed: authentication is off, or it carries
 * "Authorization: Bearer T" with T issued here and unexpired. Otherwise answers
 * 401 in Google's shape (with WWW-Authenticate) and returns false. */
bool token_authorize(struct http_request *req, struct http_reply *reply);

#endif
