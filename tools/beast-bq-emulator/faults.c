/* faults.c — injected latency, errors, 429 bursts and dropped connections
 * for the data paths; see faults.h. */
#include "faults.h"

#include "codec.h"
#include "emulator.h"
#include "http.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct faults {
    pthread_mutex_t lock;
    struct fault_settings settings;
    uint64_t rng; /* xorshift64* state, never 0 */
};

struct faults *faults_create(const struct fault_settings *initial, uint64_t seed) {
    struct faults *faults = xcalloc(1, sizeof *faults);
    pthread_mutex_init(&faults->lock, NULL);
    faults->settings = *initial;
    faults->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
    return faults;
}

void faults_destroy(struct faults *faults) {
    if (!faults)
        return;
    pthread_mutex_destroy(&faults->lock);
    free(faults);
}

/* A uniform double in [0, 1); caller holds the lock. */
static double next_uniform(struct faults *faults) {
    uint64_t x = faults->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    faults->rng = x;
    return (double)((x * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

bool faults_parse_codes(const char *text, struct fault_settings *settings) {
    int count = 0;
    const char *p = text;
    while (*p) {
        char *end;
        errno = 0;
        long code = strtol(p, &end, 10);
        if (end == p || errno || code < 400 || code > 599 || count == FAULTS_MAX_CODES)
            return false;
        settings->codes[count++] = (int)code;
        p = end;
        if (*p == ',')
            p++;
        else if (*p)
            return false;
    }
    if (count == 0)
        return false;
    settings->code_count = count;
    return true;
}

static bool read_rate(const cJSON *item, const char *name, double *out, char *err,
                      size_t err_size) {
    if (!item)
        return true;
    if (!cJSON_IsNumber(item) || item->valuedouble < 0 || item->valuedouble > 1) {
        snprintf(err, err_size, "%s must be a number between 0 and 1", name);
        return false;
    }
    *out = item->valuedouble;
    return true;
}

void faults_reset(struct faults *faults) {
    pthread_mutex_lock(&faults->lock);
    int codes[FAULTS_MAX_CODES];
    int count = faults->settings.code_count;
    memcpy(codes, faults->settings.codes, sizeof codes);
    memset(&faults->settings, 0, sizeof faults->settings);
    memcpy(faults->settings.codes, codes, sizeof codes);
    faults->settings.code_count = count;
    pthread_mutex_unlock(&faults->lock);
}

bool faults_update(struct faults *faults, const cJSON *changes, char *err, size_t err_size) {
    if (!cJSON_IsObject(changes)) {
        snprintf(err, err_size, "expected a JSON object");
        return false;
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(changes, "reset")))
        faults_reset(faults);
    pthread_mutex_lock(&faults->lock);
    struct fault_settings next = faults->settings;
    pthread_mutex_unlock(&faults->lock);
    bool ok = read_rate(cJSON_GetObjectItemCaseSensitive(changes, "error_rate"), "error_rate",
                        &next.error_rate, err, err_size) &&
              read_rate(cJSON_GetObjectItemCaseSensitive(changes, "drop_rate"), "drop_rate",
                        &next.drop_rate, err, err_size) &&
              read_rate(cJSON_GetObjectItemCaseSensitive(changes, "drop_after_rate"),
                        "drop_after_rate", &next.drop_after_rate, err, err_size);
    if (!ok)
        return false;
    const cJSON *latency = cJSON_GetObjectItemCaseSensitive(changes, "latency_ms");
    if (latency) {
        if (!cJSON_IsNumber(latency) || latency->valuedouble < 0 || latency->valuedouble > 600000) {
            snprintf(err, err_size, "latency_ms must be a number of milliseconds (0..600000)");
            return false;
        }
        next.latency_ms = (int)latency->valuedouble;
    }
    const cJSON *burst = cJSON_GetObjectItemCaseSensitive(changes, "burst_429");
    if (burst) {
        if (!cJSON_IsNumber(burst) || burst->valuedouble < 0) {
            snprintf(err, err_size, "burst_429 must be a non-negative number of requests");
            return false;
        }
        next.burst_429 = (int64_t)burst->valuedouble;
    }
    const cJSON *codes = cJSON_GetObjectItemCaseSensitive(changes, "codes");
    if (codes) {
        int count = 0;
        const cJSON *code;
        bool valid = cJSON_IsArray(codes) && cJSON_GetArraySize(codes) > 0 &&
                     cJSON_GetArraySize(codes) <= FAULTS_MAX_CODES;
        cJSON_ArrayForEach(code, codes) {
            if (!valid)
                break;
            if (!cJSON_IsNumber(code) || code->valuedouble < 400 || code->valuedouble > 599) {
                valid = false;
                break;
            }
            next.codes[count++] = (int)code->valuedouble;
        }
        if (!valid) {
            snprintf(err, err_size, "codes must be a non-empty array of HTTP codes 400..599");
            return false;
        }
        next.code_count = count;
    }
    pthread_mutex_lock(&faults->lock);
    faults->settings = next;
    pthread_mutex_unlock(&faults->lock);
    return true;
}

cJSON *faults_to_json(struct faults *faults) {
    pthread_mutex_lock(&faults->lock);
    struct fault_settings s = faults->settings;
    pthread_mutex_unlock(&faults->lock);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "error_rate", s.error_rate);
    cJSON *codes = cJSON_AddArrayToObject(root, "codes");
    for (int i = 0; i < s.code_count; i++)
        cJSON_AddItemToArray(codes, cJSON_CreateNumber(s.codes[i]));
    cJSON_AddNumberToObject(root, "latency_ms", s.latency_ms);
    cJSON_AddNumberToObject(root, "drop_rate", s.drop_rate);
    cJSON_AddNumberToObject(root, "drop_after_rate", s.drop_after_rate);
    cJSON_AddNumberToObject(root, "burst_429", (double)s.burst_429);
    return root;
}

/* Google's error body for an injected status code. */
static void reply_injected(struct http_reply *reply, int code) {
    switch (code) {
    case 429:
        reply_error(reply, 429, "rateLimitExceeded",
                    "Exceeded rate limits: too many api requests per user per method for this"
                    " user_method. For more information, see"
                    " https://cloud.google.com/bigquery/docs/troubleshoot-quotas");
        break;
    case 403:
        reply_error(reply, 403, "quotaExceeded",
                    "Exceeded rate limits: too many table update operations for this table.");
        break;
    case 500:
        reply_error(reply, 500, "backendError",
                    "An internal error occurred and the request could not be completed. This is"
                    " usually caused by a transient issue. Retrying the job with back-off as"
                    " described in the BigQuery SLA should solve the problem.");
        break;
    case 502:
    case 503:
    case 504:
        reply_error(reply, code, "backendError", "The service is currently unavailable.");
        break;
    default:
        reply_error(reply, code, code >= 500 ? "backendError" : "invalid",
                    "Injected fault (HTTP %d)", code);
        break;
    }
}

bool faults_before_request(struct emulator *emu, struct http_reply *reply) {
    struct faults *faults = emu->faults;
    pthread_mutex_lock(&faults->lock);
    int latency_ms = faults->settings.latency_ms;
    bool burst = false;
    if (faults->settings.burst_429 > 0) {
        faults->settings.burst_429--;
        burst = true;
    }
    bool drop = !burst && next_uniform(faults) < faults->settings.drop_rate;
    int code = 0;
    if (!burst && !drop && next_uniform(faults) < faults->settings.error_rate &&
        faults->settings.code_count > 0)
        code = faults->settings.codes[(int)(next_uniform(faults) * faults->settings.code_count)];
    pthread_mutex_unlock(&faults->lock);
    if (latency_ms > 0) {
        STAT_ADD(emu, faults_delays, 1);
        struct timespec delay = {latency_ms / 1000, (long)(latency_ms % 1000) * 1000000L};
        while (nanosleep(&delay, &delay) != 0 && errno == EINTR)
            ;
    }
    if (burst) {
        STAT_ADD(emu, faults_burst_429, 1);
        reply_injected(reply, 429);
        return true;
    }
    if (drop) {
        STAT_ADD(emu, faults_drops, 1);
        reply->drop_connection = true;
        return true;
    }
    if (code) {
        STAT_ADD(emu, faults_errors, 1);
        reply_injected(reply, code);
        return true;
    }
    return false;
}

bool faults_drop_after(struct emulator *emu) {
    struct faults *faults = emu->faults;
    pthread_mutex_lock(&faults->lock);
    bool drop = faults->settings.drop_after_rate > 0 &&
                next_uniform(faults) < faults->settings.drop_after_rate;
    pthread_mutex_unlock(&faults->lock);
    if (drop)
        STAT_ADD(emu, faults_drops_after, 1);
    return drop;
}
