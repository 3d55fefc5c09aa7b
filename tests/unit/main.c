/*  main.c - runs every unit test group; exits non-zero if any test failed. */
#include "unit.h"

#include <stdio.h>

typedef struct {
    const char *name;
    int (*run) (void);
} s_group_t;

static const s_group_t s_groups[] = {
    {"msgs", test_msgs_run},
    {"msgs_decode", test_msgs_decode_run},
    {"msgs_lists", test_msgs_lists_run},
    {"msgs_view", test_msgs_view_run},
    {"msgs_trade", test_msgs_trade_run},
    {"msgs_consensus", test_msgs_consensus_run},
    {"consensus_rules", test_consensus_rules_run},
    {"journal", test_journal_run},
    {"promise", test_promise_run},
    {"joining", test_joining_run},
    {"cli", test_cli_run},
    {"lru", test_lru_run},
    {"strindex", test_strindex_run},
    {"store", test_store_run},
    {"tradelog", test_tradelog_run},
    {"gateway_api", test_gateway_api_run},
    {"roster", test_roster_run},
    {"stamps", test_stamps_run},
    {"sockpoll", test_sockpoll_run},
    {"pid", test_pid_run},
    {"outbox", test_outbox_run},
    {"view", test_view_run},
};

int
main (void)
{
    int failed = 0;
    for (size_t i = 0; i < sizeof (s_groups) / sizeof (s_groups[0]); i++) {
        int group_failed = s_groups[i].run ();
        if (group_failed)
            fprintf (stderr, "unit-tests: %d failed in group %s\n", group_failed, s_groups[i].name);
        failed += group_failed;
    }
    if (failed)
        fprintf (stderr, "unit-tests: %d failed in all\n", failed);
    return failed ? 1 : 0;
}
