/*  mem.h - allocation that never returns NULL.

    The project's out-of-memory policy (docs/STYLE.md), after Redis's
    zmalloc: a process that cannot allocate a few bytes has nothing
    sensible left to do, so these log "out of memory" with the size asked
    for and abort. Callers never check for NULL and never assert. Memory
    is released with free as usual.
*/
#ifndef BAZAAR_MEM_H
#define BAZAAR_MEM_H

#include <stddef.h>

//  malloc (size); a size of 0 allocates 1 byte, so the result is never NULL.
void *mem_alloc (size_t size);

//  calloc (count, size): zeroed; 0 elements allocate 1 byte. Aborts on
//  count * size overflowing as on a failed allocation.
void *mem_calloc (size_t count, size_t size);

//  realloc (ptr, size); a size of 0 keeps 1 byte (ptr is never freed).
void *mem_realloc (void *ptr, size_t size);

//  strdup (text).
char *mem_strdup (const char *text);

#endif
