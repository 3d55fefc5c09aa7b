/*  bazaar-keys - make the CURVE keys of a Bazaar bus (bazaar keys DIR). */
#include "cli.h"
#include "sockets.h"

#include <czmq.h>
#include <stdio.h>

int
main (int argc, char **argv)
{
    if (argc == 2 && (streq (argv[1], "--help") || streq (argv[1], "-h"))) {
        printf ("Usage: bazaar-keys DIR\n"
                "Make a CURVE key pair per role (broker, catalog, order, gateway, tap) in DIR\n"
                "and the allow-list DIR/allowed; existing keys are kept. Give every process\n"
                "--keys DIR (or 'keys = DIR' in its config file) to use them.\n");
        return 0;
    }
    if (argc == 2 && streq (argv[1], "--version")) {
        printf ("bazaar-keys %s\n", BAZAAR_VERSION);
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-' || !argv[1][0]) {
        fprintf (stderr, "bazaar-keys: expected one argument, the key directory (try --help)\n");
        return 2;
    }
    zsys_init ();
    zsys_set_logstream (NULL);
    char error[512];
    if (sockets_make_keys (argv[1], error, sizeof (error))) {
        fprintf (stderr, "bazaar-keys: %s\n", error);
        return 1;
    }
    printf ("keys in %s (allow-list in %s/allowed)\n", argv[1], argv[1]);
    return 0;
}
