/*
 * metrics.h — counters, gauges and histograms in Prometheus text format,
 * served with /healthz and /readyz on `metrics.listen` (libmicrohttpd).
 * Series are created once and updated lock-free with atomics.
 */
#ifndef HOST_METRICS_H
#define HOST_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { HOST_COUNTER, HOST_GAUGE } host_metric_type;

typedef struct host_series {
    char *name;
    char *labels; /* rendered: pipeline="x",topic="y" */
    host_metric_type type;
    _Atomic int64_t value;      /* counters and gauges are integral... */
    _Atomic uint64_t real_bits; /* ...except metric_add's doubles (bit pattern) */
    int is_real;
    struct host_series *next;
} host_series;

/* Finds or creates a series; never NULL except out of memory. The pointer
 * stays valid until host_metrics_shutdown. @locality any thread */
host_series *host_metric(const char *name, host_metric_type type, const char *labels);

static inline void host_series_add(host_series *series, int64_t delta) {
    if (series)
        atomic_fetch_add_explicit(&series->value, delta, memory_order_relaxed);
}
static inline void host_series_set(host_series *series, int64_t value) {
    if (series)
        atomic_store_explicit(&series->value, value, memory_order_relaxed);
}
void host_series_add_real(host_series *series, double delta);

/* Latency histogram (seconds) with fixed buckets. */
typedef struct host_histogram host_histogram;
host_histogram *host_histogram_get(const char *name, const char *labels);
void host_histogram_observe(host_histogram *histogram, double seconds);

/* Readiness: the pipeline count that must report ready before /readyz is 200. */
void host_metrics_expect_ready(int pipelines);
void host_metrics_set_ready(int delta);

/* Starts the HTTP endpoint; 0 ok, -1 with errstr. */
int host_metrics_start(const char *listen, char *errstr, size_t errstr_size);
void host_metrics_shutdown(void);

/* Renders every series (for tests and the endpoint); caller frees. */
char *host_metrics_render(void);

#endif
