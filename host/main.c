/*
 * main.c — the beast executable's entry point; everything is in cli.c.
 */
#include "cli.h"

int main(int argc, char **argv) { return host_cli_main(argc, argv); }
