/*  mem.c - allocation that never returns NULL (see mem.h). */
#include "mem.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

static void
s_out_of_memory (size_t size)
{
    log_error ("out of memory: cannot allocate %zu bytes; aborting", size);
    abort ();
}

void *
mem_alloc (size_t size)
{
    void *memory = malloc (size ? size : 1);
    if (!memory)
        s_out_of_memory (size);
    return memory;
}

void *
mem_calloc (size_t count, size_t size)
{
    void *memory = calloc (count ? count : 1, size ? size : 1);
    if (!memory)
        s_out_of_memory (count * size);
    return memory;
}

void *
mem_realloc (void *ptr, size_t size)
{
    void *memory = realloc (ptr, size ? size : 1);
    if (!memory)
        s_out_of_memory (size);
    return memory;
}

char *
mem_strdup (const char *text)
{
    char *copy = strdup (text);
    if (!copy)
        s_out_of_memory (strlen (text) + 1);
    return copy;
}
