/*
 * log.c - request and server log lines on stderr, text or JSON.
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096
#define FIELD_MAX 1024

static int log_json;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void log_init(int json)
{
    log_json = json;
}

/* UTC time with milliseconds, ISO 8601. */
static void timestamp(char *out, size_t cap)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%03dZ", (int)(tv.tv_usec / 1000));
}

void log_json_escape(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    if (cap == 0)
        return;
    for (; s != NULL && *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        char tmp[8];
        const char *piece = tmp;
        if (c == '"')
            piece = "\\\"";
        else if (c == '\\')
            piece = "\\\\";
        else if (c == '\n')
            piece = "\\n";
        else if (c == '\r')
            piece = "\\r";
        else if (c == '\t')
            piece = "\\t";
        else if (c < 0x20 || c == 0x7f)
            snprintf(tmp, sizeof tmp, "\\u%04x", c);
        else {
            tmp[0] = (char)c;
            tmp[1] = '\0';
        }
        size_t len = strlen(piece);
        if (o + len >= cap)
            break;
        memcpy(out + o, piece, len);
        o += len;
    }
    out[o] = '\0';
}

/* Text lines: printable ASCII kept, the rest (spaces included, so fields
 * stay split on spaces) as %XX. */
static void text_escape(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    if (cap == 0)
        return;
    for (; s != NULL && *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c > 0x20 && c < 0x7f) {
            if (o + 1 >= cap)
                break;
            out[o++] = (char)c;
        } else {
            if (o + 3 >= cap)
                break;
            snprintf(out + o, 4, "%%%02X", c);
            o += 3;
        }
    }
    out[o] = '\0';
}

static void emit(const char *line, size_t len)
{
    pthread_mutex_lock(&log_lock);
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, line, len);
        if (n <= 0)
            break;
        line += n;
        len -= (size_t)n;
    }
    pthread_mutex_unlock(&log_lock);
}

static void finish_line(char *line, int n)
{
    size_t len = n < 0 ? 0 : (size_t)n;
    if (len > LINE_MAX_BYTES - 2)
        len = LINE_MAX_BYTES - 2;
    line[len++] = '\n';
    emit(line, len);
}

void log_request(const log_request_info *r)
{
    char ts[40], path[FIELD_MAX], method[32], remote[128];
    char line[LINE_MAX_BYTES];
    int n;

    timestamp(ts, sizeof ts);
    if (log_json) {
        log_json_escape(method, sizeof method, r->method);
        log_json_escape(path, sizeof path, r->path);
        log_json_escape(remote, sizeof remote, r->remote);
        n = snprintf(line, sizeof line,
                     "{\"time\":\"%s\",\"level\":\"info\",\"method\":\"%s\","
                     "\"path\":\"%s\",\"status\":%d,\"bytes\":%llu,"
                     "\"ms\":%.1f,\"remote\":\"%s\"%s}",
                     ts, method, path, r->status, (unsigned long long)r->bytes,
                     r->ms, remote, r->aborted ? ",\"aborted\":true" : "");
    } else {
        text_escape(method, sizeof method, r->method);
        text_escape(path, sizeof path, r->path);
        text_escape(remote, sizeof remote, r->remote);
        n = snprintf(line, sizeof line, "%s %s %s %d %llu %.1fms %s%s", ts,
                     method, path, r->status, (unsigned long long)r->bytes,
                     r->ms, remote[0] ? remote : "-",
                     r->aborted ? " aborted" : "");
    }
    finish_line(line, n);
}

void log_msg(log_level level, const char *fmt, ...)
{
    char ts[40], msg[FIELD_MAX * 2], esc[FIELD_MAX * 2];
    char line[LINE_MAX_BYTES];
    va_list ap;
    int n;

    if ((unsigned)level > LOG_LVL_ERROR)
        level = LOG_LVL_ERROR;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    timestamp(ts, sizeof ts);
    if (log_json) {
        log_json_escape(esc, sizeof esc, msg);
        n = snprintf(line, sizeof line,
                     "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}", ts,
                     level_names[level], esc);
    } else {
        for (char *p = msg; *p; p++) /* one message, one line */
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        n = snprintf(line, sizeof line, "%s %s %s", ts, level_names[level],
                     msg);
    }
    finish_line(line, n);
}
