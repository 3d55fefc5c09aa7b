/*  samples.c - request records, latency percentiles and the CSV file. */
#include "samples.h"
#include "mem.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct _samples_t {
    sample_t *items;
    size_t count;
    size_t size;   //  allocated
};

samples_t *
samples_new (void)
{
    return mem_calloc (1, sizeof (samples_t));
}

void
samples_destroy (samples_t **self_p)
{
    if (!*self_p)
        return;
    free ((*self_p)->items);
    free (*self_p);
    *self_p = NULL;
}

static int
s_reserve (samples_t *self, size_t count)
{
    if (count <= self->size)
        return 0;
    size_t size = self->size ? self->size : 1024;
    while (size < count)
        size *= 2;
    sample_t *bigger = realloc (self->items, size * sizeof (sample_t));
    if (!bigger)
        return -1;
    self->items = bigger;
    self->size = size;
    return 0;
}

int
samples_add (samples_t *self, op_t op, uint64_t start_us, uint64_t latency_us, int status)
{
    if (s_reserve (self, self->count + 1))
        return -1;
    self->items[self->count++] = (sample_t) {
        start_us, latency_us > UINT32_MAX ? UINT32_MAX : (uint32_t) latency_us,
        (int16_t) status, (uint8_t) op};
    return 0;
}

int
samples_take (samples_t *self, samples_t *other)
{
    if (s_reserve (self, self->count + other->count))
        return -1;
    if (other->count)
        memcpy (self->items + self->count, other->items, other->count * sizeof (sample_t));
    self->count += other->count;
    other->count = 0;
    return 0;
}

const char *
samples_op_name (op_t op)
{
    static const char *names[OP_COUNT] = {"lookup", "trade", "query"};
    return op < OP_COUNT ? names[op] : "?";
}

static int
s_compare_u32 (const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
    return x < y ? -1 : x > y;
}

static int
s_compare_start (const void *a, const void *b)
{
    uint64_t x = ((const sample_t *) a)->start_us, y = ((const sample_t *) b)->start_us;
    return x < y ? -1 : x > y;
}

//  Nearest-rank percentile of sorted values (pct in 0..100).
static double
s_percentile_ms (const uint32_t *sorted, size_t count, double pct)
{
    size_t rank = (size_t) (pct / 100.0 * (double) count + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > count)
        rank = count;
    return sorted[rank - 1] / 1000.0;
}

void
samples_print_summary (samples_t *self, double elapsed_s, FILE *out)
{
    uint32_t *latencies = mem_alloc (self->count * sizeof (uint32_t));
    fprintf (out, "%-8s %9s %10s %10s %10s %10s\n", "op", "count", "mean_ms", "p50_ms", "p99_ms",
             "max_ms");
    for (op_t op = 0; op < OP_COUNT; op++) {
        size_t count = 0;
        double sum = 0;
        for (size_t i = 0; i < self->count; i++)
            if (self->items[i].op == op && self->items[i].status >= 0) {
                latencies[count++] = self->items[i].latency_us;
                sum += self->items[i].latency_us;
            }
        if (count == 0) {
            fprintf (out, "%-8s %9d %10s %10s %10s %10s\n", samples_op_name (op), 0, "-", "-",
                     "-", "-");
            continue;
        }
        qsort (latencies, count, sizeof (uint32_t), s_compare_u32);
        fprintf (out, "%-8s %9zu %10.3f %10.3f %10.3f %10.3f\n", samples_op_name (op), count,
                 sum / (double) count / 1000.0, s_percentile_ms (latencies, count, 50),
                 s_percentile_ms (latencies, count, 99), latencies[count - 1] / 1000.0);
    }
    free (latencies);
    size_t failed = 0;
    for (size_t i = 0; i < self->count; i++)
        failed += self->items[i].status < 0;
    fprintf (out, "total    %9zu requests in %.3f s: %.1f requests/s", self->count, elapsed_s,
             elapsed_s > 0 ? (double) self->count / elapsed_s : 0.0);
    if (failed)
        fprintf (out, " (%zu without a response, not in the latencies)", failed);
    fprintf (out, "\n");
}

int
samples_write_csv (samples_t *self, const char *path)
{
    FILE *file = fopen (path, "w");
    if (!file)
        return -1;
    qsort (self->items, self->count, sizeof (sample_t), s_compare_start);
    fprintf (file, "op,start_us,latency_us,status\n");
    for (size_t i = 0; i < self->count; i++) {
        const sample_t *s = &self->items[i];
        fprintf (file, "%s,%llu,%u,%d\n", samples_op_name ((op_t) s->op),
                 (unsigned long long) s->start_us, (unsigned) s->latency_us, (int) s->status);
    }
    bool failed = ferror (file) != 0;
    if (fclose (file) != 0)
        failed = true;
    return failed ? -1 : 0;
}
