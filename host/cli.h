/*
 * cli.h — the beast command line (SPEC §2).
 */
#ifndef HOST_CLI_H
#define HOST_CLI_H

#define BEAST_VERSION "0.1.0"

/* Runs the command in argv; returns the process exit status. */
int host_cli_main(int argc, char **argv);

#endif
