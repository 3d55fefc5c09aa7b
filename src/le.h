/*  le.h - little-endian integers in byte buffers, for the file formats
    (journal.c's record headers, promise.c's slots): the same bytes on
    every host, and no alignment asked of the buffer.
*/
#ifndef BAZAAR_LE_H
#define BAZAAR_LE_H

#include <stdint.h>

static inline void
le_put32 (unsigned char *at, uint32_t value)
{
    for (int i = 0; i < 4; i++)
        at[i] = (unsigned char) (value >> (8 * i));
}

static inline uint32_t
le_get32 (const unsigned char *at)
{
    return (uint32_t) at[0] | (uint32_t) at[1] << 8 | (uint32_t) at[2] << 16
         | (uint32_t) at[3] << 24;
}

static inline void
le_put64 (unsigned char *at, uint64_t value)
{
    le_put32 (at, (uint32_t) value);
    le_put32 (at + 4, (uint32_t) (value >> 32));
}

static inline uint64_t
le_get64 (const unsigned char *at)
{
    return (uint64_t) le_get32 (at) | (uint64_t) le_get32 (at + 4) << 32;
}

#endif
