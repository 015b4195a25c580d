/* http_server.h — starting and stopping the emulator's HTTP listener. */
#ifndef BQEMU_HTTP_SERVER_H
#define BQEMU_HTTP_SERVER_H

#include <stddef.h>

struct emulator;
struct http_server;

/* Binds exactly host:port (port 0: a free port, reported in *bound_port) and
 * serves requests on background threads. Returns 0, or -1 with err filled. */
int http_server_start(struct emulator *emu, const char *host, int port, struct http_server **out,
                      int *bound_port, char *err, size_t err_size);
/* Stops accepting, waits for in-flight requests, closes the socket. */
void http_server_stop(struct http_server *server);

#endif
