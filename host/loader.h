/*
 * loader.h — finds plugin shared objects in the plugin directory, checks
 * their descriptor (magic, struct size, ABI major, kind, operations) before
 * any other plugin code runs, and refuses a mismatch naming every field that
 * differs. Loaded plugins stay loaded until the process exits.
 */
#ifndef HOST_LOADER_H
#define HOST_LOADER_H

#include <stddef.h>

#include "beast/plugin.h"

typedef struct host_plugin {
    const beast_plugin *descriptor;
    char *path;
    void *handle;
    struct host_plugin *next;
} host_plugin;

/* "decoder", "sink", "offsets"; NULL for an unknown kind. */
const char *host_kind_name(beast_plugin_kind kind);

/* Loads and checks one .so. On failure returns NULL with errstr like
 *   build/plugins/sink_x.so: not binary compatible: host has abi_major = 1,
 *   library has abi_major = 2
 * and the library is dlclosed. Loading the same path twice returns the
 * first load. @locality main thread */
const host_plugin *host_plugin_load(const char *path, char *errstr, size_t errstr_size);

/* Loads <dir>/<kind>_<name>.so. When absent, errstr lists the plugins of
 * that kind that are in dir. */
const host_plugin *host_plugin_find(const char *dir, beast_plugin_kind kind, const char *name,
                                    char *errstr, size_t errstr_size);

/* Loads every *.so in dir (sorted by file name). Good ones are returned as a
 * list through `loaded` (static storage, do not free); each refused file is
 * reported through `on_error`. Returns the count of good plugins or -1 when
 * the directory cannot be read (errstr says why). */
int host_plugin_scan(const char *dir, const host_plugin **loaded[], size_t *count,
                     void (*on_error)(const char *message), char *errstr, size_t errstr_size);

/* dlcloses everything; only at exit, after every instance is destroyed. */
void host_plugins_unload(void);

#endif
