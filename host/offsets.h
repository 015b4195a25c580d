/*
 * offsets.h — the offset tracker: per partition, which consumed offsets are
 * acknowledged (written by the sink or to the DLQ), and the highest offset
 * below which everything is, i.e. what may be committed. Acks may arrive in
 * any order from any thread; a commit never passes an unacknowledged offset.
 *
 * Each partition has a fixed window of in-flight slots indexed by a
 * free-running sequence number. The consumer thread registers offsets in
 * consumption order; ackers flip a slot from "pending(seq)" to "acked(seq)"
 * with one CAS, so a stale ack from before a revoke can never mark a newer
 * message; the committer advances the head over acked slots.
 */
#ifndef HOST_OFFSETS_H
#define HOST_OFFSETS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct host_track {
    char *topic;
    int32_t partition;
    uint32_t mask;
    int64_t *offsets;         /* slot -> offset, written by the registering thread */
    _Atomic uint32_t *states; /* slot -> pending(seq) = seq<<1 or acked(seq) = seq<<1|1 */
    _Atomic uint32_t tail;    /* next seq; written by the registering (consumer) thread */
    _Atomic uint32_t head;    /* oldest unacknowledged seq; written under the commit lock */
    int64_t committed;        /* last next-offset stored; under the commit lock; -1 none */
    int64_t acked_next;       /* next-offset of the last head advance; under the commit lock */
    _Atomic int assigned;     /* 1 while this process owns the partition */
    void *lag_series;         /* the pipeline's beast_consumer_lag gauge for it, or NULL */
    void *committed_series;   /* its beast_committed_offset gauge, or NULL */
    struct host_track *next;  /* hash chain */
    struct host_track *all_next;
} host_track;

typedef struct host_track_table {
    pthread_mutex_t lock; /* guards insertion and iteration of `all` */
    host_track **buckets;
    uint32_t bucket_mask;
    host_track *all;
    uint32_t window;  /* slots per partition, power of two */
    host_track *last; /* lookup cache; consumer thread only */
} host_track_table;

int host_track_table_init(host_track_table *table, uint32_t window);
void host_track_table_destroy(host_track_table *table);

/* Finds the partition's tracker, creating it when `create`. Lookups without
 * create are lock-free and only valid on the thread that creates trackers
 * (the consumer thread). NULL when absent or out of memory.
 * Trackers are never freed before the table, so in-flight messages may keep
 * pointers to them across revokes. */
host_track *host_track_find(host_track_table *table, const char *topic, int32_t partition,
                            int create);

/* Starts tracking afresh (on assignment): abandons anything in flight.
 * @locality consumer thread, with the commit lock held */
void host_track_reset(host_track *track);

/* Registers the next consumed offset. Returns 0 and its seq, or -1 when the
 * window is full (the caller applies backpressure). @locality consumer thread */
int host_track_register(host_track *track, int64_t offset, uint32_t *seq_out);

/* Marks seq acknowledged. Safe from any thread, any order, and for seqs from
 * before a reset (then it does nothing). */
void host_track_ack(host_track *track, uint32_t seq);

/* Advances over acknowledged slots. Returns the next-offset that may now be
 * committed (last contiguous acked offset + 1) or -1 when nothing was acked
 * since the track's last reset. @locality one thread at a time (commit lock) */
int64_t host_track_advance(host_track *track);

/* Registered but not yet passed by the head. */
uint32_t host_track_inflight(const host_track *track);

#endif
