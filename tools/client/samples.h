/*  samples.h - one record per HTTP request the client made, and the
    latency summary and CSV built from them.
*/
#ifndef BAZAAR_SAMPLES_H
#define BAZAAR_SAMPLES_H

#include <stdint.h>
#include <stdio.h>

typedef enum { OP_LOOKUP, OP_TRADE, OP_QUERY, OP_COUNT } op_t;

typedef struct {
    uint64_t start_us;     //  microseconds since the run started
    uint32_t latency_us;
    int16_t status;        //  HTTP status, -1 for a transport error
    uint8_t op;            //  op_t
} sample_t;

typedef struct _samples_t samples_t;

//  An empty, growable list.
samples_t *samples_new (void);

//  Free the list. Does nothing on NULL.
void samples_destroy (samples_t **self_p);

//  Append one record. Returns 0, or -1 if out of memory.
int samples_add (samples_t *self, op_t op, uint64_t start_us, uint64_t latency_us, int status);

//  Move every record of other to the end of self (other ends empty).
//  Returns 0, or -1 if out of memory.
int samples_take (samples_t *self, samples_t *other);

//  "lookup", "trade", "query".
const char *samples_op_name (op_t op);

//  Print count, mean, p50, p99 and max latency in ms for each operation
//  (requests that got a response only),
//  then total requests and throughput over elapsed_s seconds.
void samples_print_summary (samples_t *self, double elapsed_s, FILE *out);

//  Write "op,start_us,latency_us,status" and one row per request, in
//  start order. Returns 0, or -1 if the file cannot be written.
int samples_write_csv (samples_t *self, const char *path);

#endif
