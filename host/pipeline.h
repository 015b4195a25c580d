/*
 * pipeline.h — one configured pipeline at run time: a consumer thread
 * (librdkafka high-level consumer) → per-decoder SPSC rings → decoder
 * workers that batch into arenas → a bounded batch queue → sink workers
 * (retries, DLQ) → acks → offset tracker → a committer thread that stores
 * only offsets below which everything is acknowledged.
 */
#ifndef HOST_PIPELINE_H
#define HOST_PIPELINE_H

#include "config.h"

typedef struct host_pipeline host_pipeline;

/* Creates the plugin instances of `conf` (init), but starts nothing.
 * NULL with errstr on failure (everything created is undone). */
host_pipeline *host_pipeline_create(const host_pipeline_conf *conf, const char *data_dir,
                                    char *errstr, size_t errstr_size);

/* Creates the consumer, subscribes and starts every thread.
 * 0 ok, -1 with errstr. @locality main thread */
int host_pipeline_start(host_pipeline *pipeline, char *errstr, size_t errstr_size);

/* Asks the pipeline to stop fetching, drain, flush and commit. Returns at
 * once. @locality any thread */
void host_pipeline_stop(host_pipeline *pipeline);

/* After stop: gives up on what is still in flight (it is not committed and
 * will be consumed again), so the threads end promptly. */
void host_pipeline_abandon(host_pipeline *pipeline);

/* 1 once every thread has finished (drained or abandoned). */
int host_pipeline_finished(host_pipeline *pipeline);

/* 1 when the pipeline stopped on an unrecoverable error. */
int host_pipeline_failed(host_pipeline *pipeline);

/* Calls the sink's optional probe (`check --connect`): 1 reachable, 0 the
 * sink has no probe, -1 with errstr. */
int host_pipeline_probe_sink(host_pipeline *pipeline, char *errstr, size_t errstr_size);

/* Joins threads and destroys everything. Returns the number of messages
 * that were in flight and not acknowledged when it ended (0 = clean). */
uint64_t host_pipeline_destroy(host_pipeline *pipeline);

#endif
