/* faults.h — fault injection on the data paths (insertAll and GCS uploads):
 * added latency, error answers with Google's error bodies, bursts of 429,
 * connections closed without an answer before or after the data was stored.
 * Set by command-line flags and changed at run time through POST /admin/faults.
 * @locality any thread; decisions draw from one seeded generator under a mutex. */
#ifndef BQEMU_FAULTS_H
#define BQEMU_FAULTS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FAULTS_MAX_CODES 16

struct fault_settings {
    double error_rate; /* probability of answering with one of codes[] */
    int codes[FAULTS_MAX_CODES];
    int code_count;
    int latency_ms;         /* added before every data request */
    double drop_rate;       /* close without answering, nothing stored */
    double drop_after_rate; /* store, then close without answering */
    int64_t burst_429;      /* the next N data requests get 429 */
};

struct faults;
struct emulator;
struct http_reply;

struct faults *faults_create(const struct fault_settings *initial, uint64_t seed);
void faults_destroy(struct faults *faults);
/* Parses "500,503,429" into settings->codes; false on a bad list. */
bool faults_parse_codes(const char *text, struct fault_settings *settings);
/* Applies the keys present in `changes` ({"error_rate","codes","latency_ms",
 * "drop_rate","drop_after_rate","burst_429"}, or {"reset":true}). On a bad
 * value nothing changes, a message goes to err and false is returned. */
bool faults_update(struct faults *faults, const cJSON *changes, char *err, size_t err_size);
cJSON *faults_to_json(struct faults *faults);
void faults_reset(struct faults *faults);

/* Before a data request: sleeps the configured latency, then decides. Returns
 * true when the request is answered already (an injected error in *reply, or
 * reply->drop_connection set); false when it should be served. */
bool faults_before_request(struct emulator *emu, struct http_reply *reply);
/* After a data request was served successfully: true when the answer should be
 * dropped (the data stays stored), so the client retries what already landed. */
bool faults_drop_after(struct emulator *emu);

#endif
