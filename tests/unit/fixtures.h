/*  fixtures.h - messages for the msgs tests.

    The tests know the field letters of each type from MSG_TABLE itself,
    so a type added to the table is covered by every loop below.
*/
#ifndef BAZAAR_FIXTURES_H
#define BAZAAR_FIXTURES_H

#include "msgs.h"

//  Every type code in MSG_TABLE.
extern const int fx_types[];
extern const size_t fx_type_count;

//  Field letters of a type, in wire order ("" for a code not in the table).
const char *fx_fields (int type);

//  Which values fx_build puts in the fields.
typedef enum {
    FX_MAX,    //  strings at their max length, UINT64_MAX, 3-item lists
    FX_MIN,    //  empty strings, 0, smallest legal values, empty lists
    FX_TYPICAL //  ordinary values, 2-item lists
} fx_variant_t;

//  Build a message of type with every field of that type set; fields of
//  other types stay zero. The caller calls msg_reset.
void fx_build (msg_t *msg, int type, fx_variant_t variant);

//  Fail the test unless a and b hold the same values in every field (all
//  of msg_t, not only the fields of their type; prices bit for bit).
void fx_assert_same (const msg_t *a, const msg_t *b);

//  Encode msg into out (initialised by the caller), failing the test if
//  msg_encode refuses.
void fx_encode (const msg_t *msg, msgpack_sbuffer *out);

//  Decode data and fail the test unless msg_decode returns expected (what
//  names the case in the failure) and, if it refused, left no allocation.
void fx_expect_decode (const void *data, size_t size, int expected, const char *what);

//  A temporary directory with one file path in it, for journal-backed
//  tests: fx_tmp_setup makes /tmp/bazaar-<prefix>-XXXXXX and names the
//  file <file> inside it; fx_tmp_teardown removes both. Use as cmocka
//  setup/teardown through a wrapper that passes prefix and file.
typedef struct {
    char dir[64];
    char path[128];
    char error[256];
} fx_tmp_t;

int fx_tmp_setup (void **state, const char *prefix, const char *file);
int fx_tmp_teardown (void **state);

//  The size of the file at path (fails the test if there is none).
uint64_t fx_file_size (const char *path);

#endif
