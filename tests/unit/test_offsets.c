/*
 * test_offsets.c — the offset tracker: randomised ack orders (single and
 * multi-threaded) never make a commit pass an unacknowledged offset; gaps
 * in offsets; window full; stale acks from before a reset do nothing.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "offsets.h"

static void shuffle(uint32_t *items, size_t count, unsigned *seed) {
    for (size_t i = count - 1; i > 0; i--) {
        size_t j = (size_t)rand_r(seed) % (i + 1);
        uint32_t t = items[i];
        items[i] = items[j];
        items[j] = t;
    }
}

static void test_commit_never_passes_unacked(void **state) {
    (void)state;
    unsigned seed = 12345;
    for (int round = 0; round < 200; round++) {
        host_track_table table;
        assert_int_equal(host_track_table_init(&table, 1024), 0);
        host_track *track = host_track_find(&table, "t", 3, 1);
        assert_non_null(track);
        size_t count = 1 + (size_t)rand_r(&seed) % 1000;
        int64_t *offsets = malloc(count * sizeof(*offsets));
        uint32_t *seqs = malloc(count * sizeof(*seqs));
        uint32_t *order = malloc(count * sizeof(*order));
        char *acked = calloc(count, 1);
        int64_t offset = rand_r(&seed) % 100;
        for (size_t i = 0; i < count; i++) {
            offsets[i] = offset;
            offset += 1 + rand_r(&seed) % 3; /* gaps, as after compaction */
            assert_int_equal(host_track_register(track, offsets[i], &seqs[i]), 0);
            order[i] = (uint32_t)i;
        }
        shuffle(order, count, &seed);
        int64_t last_committable = -1;
        for (size_t k = 0; k < count; k++) {
            host_track_ack(track, seqs[order[k]]);
            acked[order[k]] = 1;
            if (rand_r(&seed) % 4 == 0 || k == count - 1) {
                int64_t next = host_track_advance(track);
                /* Every offset below `next` must be acked, and next is the
                 * offset after a contiguous acked prefix. */
                size_t prefix = 0;
                while (prefix < count && acked[prefix])
                    prefix++;
                int64_t expected = prefix ? offsets[prefix - 1] + 1 : -1;
                assert_int_equal(next, expected);
                assert_true(next >= last_committable);
                last_committable = next;
            }
        }
        assert_int_equal(host_track_inflight(track), 0);
        assert_int_equal(last_committable, offsets[count - 1] + 1);
        free(offsets), free(seqs), free(order), free(acked);
        host_track_table_destroy(&table);
    }
}

static void test_window_full_then_frees(void **state) {
    (void)state;
    host_track_table table;
    assert_int_equal(host_track_table_init(&table, 16), 0);
    host_track *track = host_track_find(&table, "t", 0, 1);
    uint32_t seqs[17];
    for (int i = 0; i < 16; i++)
        assert_int_equal(host_track_register(track, i, &seqs[i]), 0);
    assert_int_equal(host_track_register(track, 16, &seqs[16]), -1);
    host_track_ack(track, seqs[1]); /* not the head: no room yet */
    assert_int_equal(host_track_advance(track), -1);
    assert_int_equal(host_track_register(track, 16, &seqs[16]), -1);
    host_track_ack(track, seqs[0]);
    assert_int_equal(host_track_advance(track), 2);
    assert_int_equal(host_track_register(track, 16, &seqs[16]), 0);
    host_track_table_destroy(&table);
}

static void test_stale_ack_after_reset_is_ignored(void **state) {
    (void)state;
    host_track_table table;
    assert_int_equal(host_track_table_init(&table, 16), 0);
    host_track *track = host_track_find(&table, "t", 0, 1);
    uint32_t old_seqs[16], new_seqs[16];
    for (int i = 0; i < 16; i++)
        assert_int_equal(host_track_register(track, 100 + i, &old_seqs[i]), 0);
    host_track_reset(track); /* revoked and assigned again: all abandoned */
    assert_int_equal(host_track_inflight(track), 0);
    for (int i = 0; i < 16; i++)
        assert_int_equal(host_track_register(track, 100 + i, &new_seqs[i]), 0);
    for (int i = 0; i < 16; i++)
        host_track_ack(track, old_seqs[i]); /* same slots, older seqs */
    assert_int_equal(host_track_advance(track), -1);
    host_track_ack(track, new_seqs[0]);
    assert_int_equal(host_track_advance(track), 101);
    host_track_table_destroy(&table);
}

typedef struct acker_args {
    host_track *track;
    uint32_t *seqs;
    size_t count;
    _Atomic size_t *published;
    unsigned seed;
} acker_args;

/* Acks every seq whose index is ≡ id (mod 2), in a shuffled order within
 * windows of what has been published. */
static void *acker(void *arg) {
    acker_args *args = arg;
    size_t done = 0;
    uint32_t window[256];
    while (done < args->count) {
        size_t published = atomic_load(args->published);
        size_t n = 0;
        while (done < published && n < 256)
            window[n++] = args->seqs[done++];
        if (n == 0)
            continue;
        shuffle(window, n, &args->seed);
        for (size_t i = 0; i < n; i++)
            host_track_ack(args->track, window[i]);
    }
    return NULL;
}

static void test_threads_ack_while_committer_advances(void **state) {
    (void)state;
    enum { COUNT = 400000 };
    host_track_table table;
    assert_int_equal(host_track_table_init(&table, 4096), 0);
    host_track *track = host_track_find(&table, "t", 0, 1);
    uint32_t *seqs[2] = {malloc(COUNT * sizeof(uint32_t)), malloc(COUNT * sizeof(uint32_t))};
    _Atomic size_t published[2] = {0, 0};
    acker_args args[2] = {{track, seqs[0], COUNT / 2, &published[0], 1},
                          {track, seqs[1], COUNT / 2, &published[1], 2}};
    pthread_t threads[2];
    for (int t = 0; t < 2; t++)
        pthread_create(&threads[t], NULL, acker, &args[t]);
    size_t registered = 0;
    int64_t last = -1;
    while (registered < COUNT) {
        uint32_t seq;
        if (host_track_register(track, (int64_t)registered, &seq) == 0) {
            int lane = (int)(registered % 2);
            seqs[lane][registered / 2] = seq;
            atomic_store(&published[lane], registered / 2 + 1);
            registered++;
        }
        int64_t next = host_track_advance(track);
        /* Offsets equal their index; nothing at or past `registered` can
         * be committable, and the commit point never goes back. */
        assert_true(next <= (int64_t)registered);
        assert_true(next >= last);
        last = next;
    }
    for (int t = 0; t < 2; t++)
        pthread_join(threads[t], NULL);
    assert_int_equal(host_track_advance(track), COUNT);
    free(seqs[0]), free(seqs[1]);
    host_track_table_destroy(&table);
}

static void test_find_distinguishes_partitions(void **state) {
    (void)state;
    host_track_table table;
    assert_int_equal(host_track_table_init(&table, 16), 0);
    host_track *a = host_track_find(&table, "orders", 0, 1);
    host_track *b = host_track_find(&table, "orders", 1, 1);
    host_track *c = host_track_find(&table, "orders.v2", 0, 1);
    assert_true(a != b && b != c && a != c);
    assert_ptr_equal(host_track_find(&table, "orders", 0, 0), a);
    assert_ptr_equal(host_track_find(&table, "orders.v2", 0, 0), c);
    assert_null(host_track_find(&table, "other", 0, 0));
    host_track_table_destroy(&table);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commit_never_passes_unacked),
        cmocka_unit_test(test_window_full_then_frees),
        cmocka_unit_test(test_stale_ack_after_reset_is_ignored),
        cmocka_unit_test(test_threads_ack_while_committer_advances),
        cmocka_unit_test(test_find_distinguishes_partitions),
    };
    return cmocka_run_group_tests_name("offsets", tests, NULL, NULL);
}
