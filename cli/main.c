/*
 * main.c - entry point of the `elves` program: dispatches to the command
 * named by the first argument and prints the overall usage and version.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"compress", cmd_compress,
     "compress a checkpoint (or any file) into a "
     "container"},
    {"decompress", cmd_decompress,
     "restore the original file from a "
     "container, verifying its SHA-256"},
    {"cat", cmd_cat, "write a byte range of the original file to stdout"},
    {"inspect", cmd_inspect,
     "list the tensors of a checkpoint or the "
     "segments of a container"},
    {"bench", cmd_bench, "measure ratio and speed against zstd -3 and -19"},
};

static void print_usage(FILE *f)
{
    fprintf(f, "usage: elves <command> [options] [args]\n"
               "       elves --version | --help\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'elves <command> --help' for its options.\n");
}

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* `elves help CMD` is `elves CMD --help`. */
static int run_help(int argc, char **argv)
{
    if (argc < 3) {
        print_usage(stdout);
        return 0;
    }
    const command *c = find_command(argv[2]);
    if (!c)
        return cli_usage_error(argv[2], "unknown command (see elves --help)");
    char *args[] = {argv[2], "--help", NULL};
    return c->run(2, args);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(NULL, "no command given (see elves --help)");
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        print_usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
        printf("elves %s\n", ELVES_VERSION_STRING);
        return 0;
    }
    if (strcmp(name, "help") == 0)
        return run_help(argc, argv);
    const command *c = find_command(name);
    if (!c) {
        if (name[0] == '-')
            return cli_usage_error(name, "unknown option (see elves --help)");
        return cli_usage_error(name, "unknown command (see elves --help)");
    }
    return c->run(argc - 1, argv + 1);
}
