/*
 * fuzz_proto.c — libFuzzer target: the proto decoder's real init and
 * decode ops, through a fake host, over arbitrary record bytes. The first
 * byte picks the message (0 example.Booking, 1 kinds.Kinds, 2
 * legacy.Legacy: every field kind, proto2 groups and required fields); the
 * rest is the Kafka record value. Every outcome must be OK (with a row
 * that matches the schema) or REJECT (with a reason).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../tests/proto_test_host.h"
#include "fuzz_check.h"
#include "fuzz_descriptor.h"

static void *instances[3];
static beast_arena *arena;
static char *descriptor_file;

static void remove_descriptor(void) {
    if (descriptor_file)
        unlink(descriptor_file);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    char path[] = "/tmp/fuzz_proto_descriptor.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, fuzz_descriptor_set, sizeof(fuzz_descriptor_set)) !=
                      (ssize_t)sizeof(fuzz_descriptor_set))
        abort();
    close(fd);
    static const char *const messages[3] = {"example.Booking", "kinds.Kinds", "legacy.Legacy"};
    for (int i = 0; i < 3; i++) {
        test_setting settings[] = {{"descriptor_set", path, NULL},
                                   {"message", messages[i], NULL},
                                   {"refresh_s", "0", NULL},
                                   {NULL, NULL, NULL}};
        char errstr[512];
        instances[i] = test_host_init(settings, errstr, sizeof(errstr));
        if (!instances[i]) {
            fprintf(stderr, "fuzz_proto: init %s: %s\n", messages[i], errstr);
            abort();
        }
    }
    /* The file stays while fuzzing (unknown fields make the decoder stat it). */
    static char descriptor_path[sizeof(path)];
    memcpy(descriptor_path, path, sizeof(path));
    descriptor_file = descriptor_path;
    atexit(remove_descriptor);
    arena = host_arena_create(64 * 1024);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    void *ctx = instances[data[0] % 3];
    /* A private copy: ASan flags any read past the record's end. */
    uint8_t *record = malloc(size - 1 ? size - 1 : 1);
    memcpy(record, data + 1, size - 1);
    beast_value row;
    char errstr[512] = "";
    beast_result rc = test_host_decode(ctx, arena, record, size - 1, &row, errstr, sizeof(errstr));
    if (rc == BEAST_OK) {
        const beast_schema *schema = test_host_schema(ctx);
        fuzz_check_record(&row, schema->fields, schema->field_count);
    } else if (rc != BEAST_REJECT || errstr[0] == '\0') {
        fprintf(stderr, "fuzz_proto: result %d: %s\n", rc, errstr);
        abort();
    }
    free(record);
    host_arena_reset(arena);
    return 0;
}
