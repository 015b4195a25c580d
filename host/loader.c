/*
 * loader.c — dlopen, descriptor checks, directory scans; see loader.h.
 */
#include "loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static host_plugin *loaded_plugins;

const char *host_kind_name(beast_plugin_kind kind) {
    switch (kind) {
    case BEAST_KIND_DECODER:
        return "decoder";
    case BEAST_KIND_SINK:
        return "sink";
    case BEAST_KIND_OFFSETS:
        return "offsets";
    }
    return NULL;
}

/* The smallest descriptor a v1 host can use: everything up to `offsets`. */
#define MIN_DESCRIPTOR_SIZE (offsetof(beast_plugin, offsets) + sizeof(void *))

/* Appends "what = host vs library" to a list of differences. */
static void add_difference(char *out, size_t out_size, const char *field, unsigned long host_value,
                           unsigned long library_value) {
    size_t used = strlen(out);
    snprintf(out + used, out_size - used, "%shost has %s = %lu, library has %s = %lu",
             used ? "; " : "", field, host_value, field, library_value);
}

/* Checks a descriptor; 0 ok, else -1 with errstr naming each differing field. */
static int check_descriptor(const char *path, const beast_plugin *plugin, char *errstr,
                            size_t errstr_size) {
    char differences[512] = "";
    if (plugin->magic != BEAST_PLUGIN_MAGIC)
        add_difference(differences, sizeof(differences), "magic", BEAST_PLUGIN_MAGIC,
                       plugin->magic);
    else {
        if (plugin->abi_major != BEAST_ABI_MAJOR)
            add_difference(differences, sizeof(differences), "abi_major", BEAST_ABI_MAJOR,
                           plugin->abi_major);
        if (plugin->struct_size < MIN_DESCRIPTOR_SIZE)
            add_difference(differences, sizeof(differences), "struct_size",
                           (unsigned long)sizeof(beast_plugin), plugin->struct_size);
    }
    if (differences[0]) {
        snprintf(errstr, errstr_size, "%s: not binary compatible: %s", path, differences);
        return -1;
    }
    const char *kind = host_kind_name(plugin->kind);
    const char *problem = NULL;
    if (!kind)
        problem = "unknown kind";
    else if (!plugin->name || !plugin->name[0])
        problem = "no name";
    else if (!plugin->init || !plugin->destroy)
        problem = "init or destroy missing";
    else if (plugin->kind == BEAST_KIND_DECODER &&
             !(BEAST_HAS_FIELD(plugin->decoder, beast_decoder_ops, schema) &&
               plugin->decoder->decode && plugin->decoder->schema))
        problem = "decoder operations missing";
    else if (plugin->kind == BEAST_KIND_SINK &&
             !(BEAST_HAS_FIELD(plugin->sink, beast_sink_ops, write) && plugin->sink->write))
        problem = "sink operations missing";
    else if (plugin->kind == BEAST_KIND_OFFSETS &&
             !(BEAST_HAS_FIELD(plugin->offsets, beast_offsets_ops, commit) &&
               plugin->offsets->load && plugin->offsets->commit))
        problem = "offset store operations missing";
    if (problem) {
        snprintf(errstr, errstr_size, "%s: invalid plugin descriptor: %s", path, problem);
        return -1;
    }
    for (const beast_option *option = plugin->options; option && option->name; option++) {
        if (option->type < BEAST_OPT_STRING || option->type > BEAST_OPT_LIST) {
            snprintf(errstr, errstr_size, "%s: invalid plugin descriptor: option %s has type %d",
                     path, option->name, (int)option->type);
            return -1;
        }
    }
    return 0;
}

const host_plugin *host_plugin_load(const char *path, char *errstr, size_t errstr_size) {
    for (host_plugin *plugin = loaded_plugins; plugin; plugin = plugin->next)
        if (strcmp(plugin->path, path) == 0)
            return plugin;
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        snprintf(errstr, errstr_size, "%s", dlerror());
        return NULL;
    }
    beast_plugin_entry_fn entry;
    *(void **)&entry = dlsym(handle, BEAST_ENTRY_SYMBOL);
    if (!entry) {
        snprintf(errstr, errstr_size, "%s: not a beast plugin: no %s symbol", path,
                 BEAST_ENTRY_SYMBOL);
        dlclose(handle);
        return NULL;
    }
    const beast_plugin *descriptor = entry();
    if (!descriptor) {
        snprintf(errstr, errstr_size, "%s: %s returned NULL", path, BEAST_ENTRY_SYMBOL);
        dlclose(handle);
        return NULL;
    }
    if (check_descriptor(path, descriptor, errstr, errstr_size) != 0) {
        dlclose(handle);
        return NULL;
    }
    host_plugin *plugin = calloc(1, sizeof(*plugin));
    if (!plugin || !(plugin->path = strdup(path))) {
        free(plugin);
        dlclose(handle);
        snprintf(errstr, errstr_size, "%s: out of memory", path);
        return NULL;
    }
    plugin->descriptor = descriptor;
    plugin->handle = handle;
    plugin->next = loaded_plugins;
    loaded_plugins = plugin;
    return plugin;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted *.so file names in dir; NULL with errno-style errstr on failure. */
static char **list_shared_objects(const char *dir, size_t *count, char *errstr,
                                  size_t errstr_size) {
    DIR *stream = opendir(dir);
    if (!stream) {
        snprintf(errstr, errstr_size, "plugin_dir %s: %m", dir);
        return NULL;
    }
    char **names = NULL;
    size_t used = 0, capacity = 0;
    struct dirent *entry;
    while ((entry = readdir(stream))) {
        size_t length = strlen(entry->d_name);
        if (length < 4 || strcmp(entry->d_name + length - 3, ".so") != 0)
            continue;
        if (used == capacity) {
            capacity = capacity ? capacity * 2 : 16;
            char **grown = realloc(names, capacity * sizeof(*names));
            if (!grown)
                break;
            names = grown;
        }
        names[used] = strdup(entry->d_name);
        if (names[used])
            used++;
    }
    closedir(stream);
    if (used)
        qsort(names, used, sizeof(*names), compare_names);
    *count = used;
    if (!names)
        names = calloc(1, sizeof(*names));
    return names;
}

static void free_names(char **names, size_t count) {
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

const host_plugin *host_plugin_find(const char *dir, beast_plugin_kind kind, const char *name,
                                    char *errstr, size_t errstr_size) {
    const char *kind_name = host_kind_name(kind);
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s_%s.so", dir, kind_name, name);
    FILE *probe = fopen(path, "rb");
    if (probe) {
        fclose(probe);
        const host_plugin *plugin = host_plugin_load(path, errstr, errstr_size);
        if (plugin &&
            (plugin->descriptor->kind != kind || strcmp(plugin->descriptor->name, name))) {
            snprintf(errstr, errstr_size, "%s: declares %s plugin \"%s\", expected %s \"%s\"", path,
                     host_kind_name(plugin->descriptor->kind), plugin->descriptor->name, kind_name,
                     name);
            return NULL;
        }
        return plugin;
    }
    /* Not there: say what is. */
    char listing[1024] = "";
    size_t count = 0;
    char scan_error[256];
    char **names = list_shared_objects(dir, &count, scan_error, sizeof(scan_error));
    if (!names) {
        snprintf(errstr, errstr_size, "no %s plugin \"%s\": %s", kind_name, name, scan_error);
        return NULL;
    }
    size_t prefix = strlen(kind_name) + 1;
    for (size_t i = 0; i < count; i++) {
        if (strncmp(names[i], kind_name, prefix - 1) != 0 || names[i][prefix - 1] != '_')
            continue;
        size_t used = strlen(listing);
        snprintf(listing + used, sizeof(listing) - used, "%s%.*s", used ? ", " : "",
                 (int)(strlen(names[i]) - prefix - 3), names[i] + prefix);
    }
    free_names(names, count);
    snprintf(errstr, errstr_size, "no %s plugin \"%s\" in %s (available: %s)", kind_name, name, dir,
             listing[0] ? listing : "none");
    return NULL;
}

int host_plugin_scan(const char *dir, const host_plugin **loaded[], size_t *count,
                     void (*on_error)(const char *message), char *errstr, size_t errstr_size) {
    size_t file_count = 0;
    char **names = list_shared_objects(dir, &file_count, errstr, errstr_size);
    if (!names)
        return -1;
    static const host_plugin *found[256];
    size_t found_count = 0;
    for (size_t i = 0; i < file_count && found_count < 256; i++) {
        char path[4096];
        char message[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        const host_plugin *plugin = host_plugin_load(path, message, sizeof(message));
        if (plugin)
            found[found_count++] = plugin;
        else if (on_error)
            on_error(message);
    }
    free_names(names, file_count);
    *loaded = found;
    *count = found_count;
    return (int)found_count;
}

void host_plugins_unload(void) {
    host_plugin *plugin = loaded_plugins;
    while (plugin) {
        host_plugin *next = plugin->next;
        dlclose(plugin->handle);
        free(plugin->path);
        free(plugin);
        plugin = next;
    }
    loaded_plugins = NULL;
}
