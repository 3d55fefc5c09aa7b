/*  status.h - `bazaar-client status`: ask the broker itself (STATUS ->
    VIEW) who is alive, who leads, and each replica's position and lag.
*/
#ifndef BAZAAR_CLIENT_STATUS_H
#define BAZAAR_CLIENT_STATUS_H

//  Run "status" with its own options (argv[0] is "status"). Returns the
//  exit status: 0 answered, 1 broker down (no answer in --timeout), 2 bad
//  options.
int status_main (int argc, char **argv);

#endif
