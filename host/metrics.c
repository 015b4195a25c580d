/*
 * metrics.c — the metrics registry and its HTTP endpoint; see metrics.h.
 */
#include "metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static host_series *series_list;

#define HISTOGRAM_BUCKETS 12
static const double bucket_bounds[HISTOGRAM_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                        0.5,   1,    2.5,   5,    10,  30};
struct host_histogram {
    char *name;
    char *labels;
    _Atomic uint64_t buckets[HISTOGRAM_BUCKETS + 1];
    _Atomic uint64_t count;
    _Atomic uint64_t sum_us;
    struct host_histogram *next;
};
static host_histogram *histogram_list;

static _Atomic int ready_expected = -1;
static _Atomic int ready_count;
static struct MHD_Daemon *daemon_handle;

host_series *host_metric(const char *name, host_metric_type type, const char *labels) {
    pthread_mutex_lock(&registry_lock);
    host_series *series;
    for (series = series_list; series; series = series->next)
        if (strcmp(series->name, name) == 0 && strcmp(series->labels, labels) == 0)
            break;
    if (!series && (series = calloc(1, sizeof(*series)))) {
        series->name = strdup(name);
        series->labels = strdup(labels);
        series->type = type;
        if (!series->name || !series->labels) {
            free(series->name);
            free(series->labels);
            free(series);
            series = NULL;
        } else {
            series->next = series_list;
            series_list = series;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    return series;
}

void host_series_add_real(host_series *series, double delta) {
    if (!series)
        return;
    series->is_real = 1;
    uint64_t old_bits = atomic_load_explicit(&series->real_bits, memory_order_relaxed);
    for (;;) {
        double old_value, new_value;
        memcpy(&old_value, &old_bits, sizeof(old_value));
        new_value = old_value + delta;
        uint64_t new_bits;
        memcpy(&new_bits, &new_value, sizeof(new_bits));
        if (atomic_compare_exchange_weak_explicit(&series->real_bits, &old_bits, new_bits,
                                                  memory_order_relaxed, memory_order_relaxed))
            return;
    }
}

host_histogram *host_histogram_get(const char *name, const char *labels) {
    pthread_mutex_lock(&registry_lock);
    host_histogram *histogram;
    for (histogram = histogram_list; histogram; histogram = histogram->next)
        if (strcmp(histogram->name, name) == 0 && strcmp(histogram->labels, labels) == 0)
            break;
    if (!histogram && (histogram = calloc(1, sizeof(*histogram)))) {
        histogram->name = strdup(name);
        histogram->labels = strdup(labels);
        histogram->next = histogram_list;
        histogram_list = histogram;
    }
    pthread_mutex_unlock(&registry_lock);
    return histogram;
}

void host_histogram_observe(host_histogram *histogram, double seconds) {
    if (!histogram)
        return;
    int bucket = 0;
    while (bucket < HISTOGRAM_BUCKETS && seconds > bucket_bounds[bucket])
        bucket++;
    atomic_fetch_add_explicit(&histogram->buckets[bucket], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&histogram->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&histogram->sum_us, (uint64_t)(seconds * 1e6), memory_order_relaxed);
}

void host_metrics_expect_ready(int pipelines) { atomic_store(&ready_expected, pipelines); }
void host_metrics_set_ready(int delta) { atomic_fetch_add(&ready_count, delta); }

/* Appends formatted text to a growing buffer. */
typedef struct text {
    char *data;
    size_t len, cap;
} text;

static void text_printf(text *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(text *out, const char *fmt, ...) {
    for (;;) {
        va_list args;
        va_start(args, fmt);
        int n = vsnprintf(out->data ? out->data + out->len : NULL,
                          out->data ? out->cap - out->len : 0, fmt, args);
        va_end(args);
        if (n < 0)
            return;
        if (out->data && out->len + (size_t)n < out->cap) {
            out->len += (size_t)n;
            return;
        }
        size_t cap = (out->cap + (size_t)n + 1) * 2;
        char *grown = realloc(out->data, cap);
        if (!grown)
            return;
        out->data = grown;
        out->cap = cap;
    }
}

char *host_metrics_render(void) {
    text out = {0};
    text_printf(&out, "%s", "");
    pthread_mutex_lock(&registry_lock);
    /* Group by name so each family has one TYPE line. */
    for (host_series *series = series_list; series; series = series->next) {
        int first = 1;
        for (host_series *earlier = series_list; earlier != series; earlier = earlier->next)
            if (strcmp(earlier->name, series->name) == 0)
                first = 0;
        if (!first)
            continue;
        text_printf(&out, "# TYPE %s %s\n", series->name,
                    series->type == HOST_COUNTER ? "counter" : "gauge");
        for (host_series *member = series; member; member = member->next) {
            if (strcmp(member->name, series->name) != 0)
                continue;
            if (member->is_real) {
                uint64_t bits = atomic_load(&member->real_bits);
                double value;
                memcpy(&value, &bits, sizeof(value));
                text_printf(&out, "%s{%s} %.17g\n", member->name, member->labels,
                            value + (double)atomic_load(&member->value));
            } else {
                text_printf(&out, "%s{%s} %lld\n", member->name, member->labels,
                            (long long)atomic_load(&member->value));
            }
        }
    }
    const char *last_name = NULL;
    for (host_histogram *histogram = histogram_list; histogram; histogram = histogram->next) {
        if (!last_name || strcmp(last_name, histogram->name) != 0)
            text_printf(&out, "# TYPE %s histogram\n", histogram->name);
        last_name = histogram->name;
        uint64_t cumulative = 0;
        for (int b = 0; b <= HISTOGRAM_BUCKETS; b++) {
            cumulative += atomic_load(&histogram->buckets[b]);
            if (b < HISTOGRAM_BUCKETS)
                text_printf(&out, "%s_bucket{%s,le=\"%g\"} %llu\n", histogram->name,
                            histogram->labels, bucket_bounds[b], (unsigned long long)cumulative);
            else
                text_printf(&out, "%s_bucket{%s,le=\"+Inf\"} %llu\n", histogram->name,
                            histogram->labels, (unsigned long long)cumulative);
        }
        text_printf(&out, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", histogram->name,
                    histogram->labels, (double)atomic_load(&histogram->sum_us) / 1e6,
                    histogram->name, histogram->labels,
                    (unsigned long long)atomic_load(&histogram->count));
    }
    pthread_mutex_unlock(&registry_lock);
    return out.data;
}

static enum MHD_Result answer(void *closure, struct MHD_Connection *connection, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_size, void **request_state) {
    (void)closure, (void)version, (void)upload_data, (void)upload_size, (void)request_state;
    unsigned status = MHD_HTTP_OK;
    char *body;
    if (strcmp(method, "GET") != 0) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        body = strdup("method not allowed\n");
    } else if (strcmp(url, "/metrics") == 0) {
        body = host_metrics_render();
    } else if (strcmp(url, "/healthz") == 0) {
        body = strdup("ok\n");
    } else if (strcmp(url, "/readyz") == 0) {
        int expected = atomic_load(&ready_expected);
        int ready = expected >= 0 && atomic_load(&ready_count) >= expected;
        status = ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
        body = strdup(ready ? "ready\n" : "not ready\n");
    } else {
        status = MHD_HTTP_NOT_FOUND;
        body = strdup("not found\n");
    }
    if (!body)
        return MHD_NO;
    struct MHD_Response *response =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(response, "Content-Type", "text/plain; version=0.0.4");
    enum MHD_Result result = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return result;
}

int host_metrics_start(const char *listen, char *errstr, size_t errstr_size) {
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen) {
        snprintf(errstr, errstr_size, "metrics.listen: expected HOST:PORT, got \"%s\"", listen);
        return -1;
    }
    char host[64];
    snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
    int port = atoi(colon + 1);
    struct sockaddr_in address;
    memset(&address, 0, sizeof(address));
    address.sin_family = AF_INET;
    address.sin_port = htons((uint16_t)port);
    if (port <= 0 || port > 65535 || inet_pton(AF_INET, host, &address.sin_addr) != 1) {
        snprintf(errstr, errstr_size, "metrics.listen: expected IPv4:PORT, got \"%s\"", listen);
        return -1;
    }
    daemon_handle = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
                                     (uint16_t)port, NULL, NULL, answer, NULL, MHD_OPTION_SOCK_ADDR,
                                     (struct sockaddr *)&address, MHD_OPTION_END);
    if (!daemon_handle) {
        snprintf(errstr, errstr_size, "metrics.listen %s: cannot listen (port in use?)", listen);
        return -1;
    }
    return 0;
}

void host_metrics_shutdown(void) {
    if (daemon_handle)
        MHD_stop_daemon(daemon_handle);
    daemon_handle = NULL;
    pthread_mutex_lock(&registry_lock);
    while (series_list) {
        host_series *next = series_list->next;
        free(series_list->name);
        free(series_list->labels);
        free(series_list);
        series_list = next;
    }
    while (histogram_list) {
        host_histogram *next = histogram_list->next;
        free(histogram_list->name);
        free(histogram_list->labels);
        free(histogram_list);
        histogram_list = next;
    }
    pthread_mutex_unlock(&registry_lock);
}
