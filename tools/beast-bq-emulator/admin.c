/* admin.c — the emulator's own paths (not Google's): /admin/faults to read and
 * change fault injection, /admin/stats for counters, /admin/reset to start
 * over. They are never faulted and never need a token. */
#include "codec.h"
#include "emulator.h"
#include "faults.h"
#include "http.h"
#include "storage.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

void admin_faults(struct http_request *req, struct http_reply *reply) {
    struct emulator *emu = req->emu;
    if (strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0) {
        cJSON *body = request_body_json(req, reply);
        if (!body)
            return;
        char err[256];
        bool ok = faults_update(emu->faults, body, err, sizeof err);
        cJSON_Delete(body);
        if (!ok) {
            reply_error(reply, 400, "invalid", "Invalid fault settings: %s", err);
            return;
        }
    } else if (strcmp(req->method, "DELETE") == 0) {
        faults_reset(emu->faults);
    } else if (strcmp(req->method, "GET") != 0) {
        reply_error(reply, 405, "methodNotAllowed", "Use GET, POST or DELETE on /admin/faults");
        return;
    }
    reply_json(reply, 200, faults_to_json(emu->faults));
}

#define STAT_FIELD(name)                                                                           \
    { #name, offsetof(struct emulator_stats, name) }

static const struct {
    const char *name;
    size_t offset;
} stat_fields[] = {
    STAT_FIELD(requests),       STAT_FIELD(insert_requests),
    STAT_FIELD(rows_received),  STAT_FIELD(rows_inserted),
    STAT_FIELD(rows_deduped),   STAT_FIELD(rows_invalid),
    STAT_FIELD(rows_stopped),   STAT_FIELD(insert_rejected),
    STAT_FIELD(tables_created), STAT_FIELD(tables_patched),
    STAT_FIELD(queries),        STAT_FIELD(objects_uploaded),
    STAT_FIELD(bytes_uploaded), STAT_FIELD(tokens_issued),
    STAT_FIELD(token_errors),   STAT_FIELD(auth_failures),
    STAT_FIELD(faults_errors),  STAT_FIELD(faults_burst_429),
    STAT_FIELD(faults_drops),   STAT_FIELD(faults_drops_after),
    STAT_FIELD(faults_delays),
};

static atomic_uint_fast64_t *stat_counter(struct emulator *emu, size_t index) {
    return (atomic_uint_fast64_t *)((char *)&emu->stats + stat_fields[index].offset);
}

void admin_stats(struct http_request *req, struct http_reply *reply) {
    struct emulator *emu = req->emu;
    cJSON *root = cJSON_CreateObject();
    uint64_t faults_total = 0;
    for (size_t i = 0; i < sizeof stat_fields / sizeof stat_fields[0]; i++) {
        uint64_t value = atomic_load_explicit(stat_counter(emu, i), memory_order_relaxed);
        cJSON_AddNumberToObject(root, stat_fields[i].name, (double)value);
        if (strncmp(stat_fields[i].name, "faults_", 7) == 0 &&
            strcmp(stat_fields[i].name, "faults_delays") != 0)
            faults_total += value;
    }
    cJSON_AddNumberToObject(root, "faults_injected", (double)faults_total);
    cJSON_AddBoolToObject(root, "fast", emu->config.fast);
    if (emu->config.fast)
        fast_insert_stats(emu->fast_insert, root);
    cJSON_AddBoolToObject(root, "auth_required", emu->config.require_auth);
    reply_json(reply, 200, root);
}

void admin_reset(struct http_request *req, struct http_reply *reply) {
    struct emulator *emu = req->emu;
    if (strcmp(req->method, "POST") != 0) {
        reply_error(reply, 405, "methodNotAllowed", "Use POST on /admin/reset");
        return;
    }
    if (store_reset(emu->store) != STORE_OK) {
        reply_error(reply, 500, "backendError", "Storage failure resetting data");
        return;
    }
    faults_reset(emu->faults);
    for (size_t i = 0; i < sizeof stat_fields / sizeof stat_fields[0]; i++)
        atomic_store_explicit(stat_counter(emu, i), 0, memory_order_relaxed);
    fast_insert_clear(emu->fast_insert);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddBoolToObject(root, "reset", true);
    reply_json(reply, 200, root);
}
