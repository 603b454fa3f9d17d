/*
 * progress.c - a one-line progress bar on stderr for long runs: shown only
 * for inputs over 100 MB and only when stderr is a terminal, so scripts and
 * logs never see it.
 */
#include <unistd.h>

#include "cli.h"

#define PROGRESS_MIN_BYTES ((uint64_t)100 * 1000 * 1000)
#define PROGRESS_WIDTH 30
#define PROGRESS_INTERVAL 0.1 /* seconds between redraws */

static void draw(cli_progress *p)
{
    uint64_t done = p->done > p->total ? p->total : p->done;
    double frac = p->total ? (double)done / (double)p->total : 1.0;
    int fill = (int)(frac * PROGRESS_WIDTH);
    char bar[PROGRESS_WIDTH + 1];
    for (int i = 0; i < PROGRESS_WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[PROGRESS_WIDTH] = '\0';
    double elapsed = cli_now() - p->start;
    fprintf(stderr, "\r%s [%s] %3d%% %8.1f MB/s", p->label, bar,
            (int)(frac * 100.0), cli_mbps(done, elapsed));
    fflush(stderr);
}

void cli_progress_start(cli_progress *p, const char *label, uint64_t total)
{
    p->on = total > PROGRESS_MIN_BYTES && isatty(STDERR_FILENO);
    p->label = label;
    p->total = total;
    p->done = 0;
    p->start = cli_now();
    p->last_draw = 0;
}

void cli_progress_set(cli_progress *p, uint64_t done)
{
    p->done = done;
    if (!p->on)
        return;
    double now = cli_now();
    if (now - p->last_draw < PROGRESS_INTERVAL && done < p->total)
        return;
    p->last_draw = now;
    draw(p);
}

void cli_progress_end(cli_progress *p)
{
    if (!p->on)
        return;
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
    p->on = 0;
}
