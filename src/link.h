/*  link.h - socket options for connections that cross hosts.

    TCP may never report a partition: a peer that is cut off (packets
    dropped silently, or only one way) stays "connected" until TCP's
    retransmissions give up, minutes later. Meanwhile messages queue
    behind the dead connection and are delivered late after a heal, and
    the reconnect waits on TCP's exponential backoff (5 s after a 10 s
    cut, measured here in tests/net).

    ZMTP 3.1 heartbeats fix both: each end PINGs every LINK_HEARTBEAT_MS
    and closes a connection that has been silent for LINK_TIMEOUT_MS (the
    PING's TTL asks the other end to do the same), which drops what was
    queued for it; ZeroMQ then reconnects every LINK_RECONNECT_MS, each
    attempt bounded by LINK_CONNECT_TIMEOUT_MS instead of the kernel's SYN
    backoff, so a link comes back within about a second of the heal.
    The timeout is above the broker's 1 s worker expiry, so a worker is
    declared dead by the broker before its connection is cut under it.

    Apply to every socket that connects or binds over TCP, before
    zmq_connect / zmq_bind. The broker then turns its own PINGs off
    (broker.c, docs/DESIGN.md "Why ZMTP heartbeats": a libzmq 4.3.4
    abort); its peers' PINGs and their TTL still cover its links.
*/
#ifndef BAZAAR_LINK_H
#define BAZAAR_LINK_H

#define LINK_HEARTBEAT_MS 250
#define LINK_TIMEOUT_MS 1500
#define LINK_RECONNECT_MS 100
#define LINK_CONNECT_TIMEOUT_MS 1000

//  Sets the heartbeat, reconnect and connect-timeout options on a libzmq
//  socket. Returns 0, or -1 with errno set.
int link_configure (void *socket);

//  A worker's broker DEALER keeps one routing id across reconnects (the
//  broker hands the id over to the new connection: ROUTER_HANDOVER), so
//  a reconnecting worker is the same worker, not a second one. Sets it
//  from the incarnation. Returns 0, or -1 with errno set.
int link_set_routing_id (void *socket, unsigned long long incarnation);

#endif
