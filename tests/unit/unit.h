/*  unit.h - the groups of the cmocka unit test runner.

    One group per module; each returns the number of failed tests, as
    cmocka_run_group_tests does. main.c runs them all.

    cmocka.h needs these headers first; every test file includes this one.
*/
#ifndef BAZAAR_UNIT_H
#define BAZAAR_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

int test_msgs_run (void);
int test_msgs_decode_run (void);
int test_msgs_lists_run (void);
int test_msgs_view_run (void);
int test_msgs_trade_run (void);
int test_msgs_consensus_run (void);
int test_consensus_rules_run (void);
int test_journal_run (void);
int test_promise_run (void);
int test_joining_run (void);
int test_cli_run (void);
int test_lru_run (void);
int test_strindex_run (void);
int test_store_run (void);
int test_tradelog_run (void);
int test_gateway_api_run (void);
int test_roster_run (void);
int test_stamps_run (void);
int test_sockpoll_run (void);
int test_pid_run (void);
int test_outbox_run (void);
int test_view_run (void);

#endif
