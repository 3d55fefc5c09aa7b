/*  verify.h - bazaar-client verify: check a data directory, and the live
    system serving it, against the invariants of SPEC §4.

    Files: catalog.stocks (initial list) and catalog.journal (one TRADEREC
    per committed trade, numbers dense from 0) give the expected quantity
    of every stock; every order-N.log must be a byte-identical prefix of
    catalog.journal (equal once the replica caught up). Live system (with
    --url): GET /stocks equals the expected quantities, a sample of
    GET /orders/<n> equals the journal's records, the next number is 404.
*/
#ifndef BAZAAR_VERIFY_H
#define BAZAAR_VERIFY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

//  "bazaar-client verify ...": argv[0] is "verify". Prints one line per
//  check and "verify: OK" or "verify: FAILED (N problems)". Returns the
//  exit status: 0 all good, 1 a check failed, 2 bad usage or no catalog
//  files in the data directory.
int verify_main (int argc, char **argv);

//  Checks the body of a GET /orders/<n> reply against one order. Returns
//  NULL if it is exactly that order, or what differs.
const char *verify_check_order (json_t *json, uint64_t number, const char *name, bool sell,
                                int64_t quantity);

#endif
