/*  sim.h - the consensus simulator's world: replicas with simulated
    disks (sim.c), a network that loses, duplicates, delays, reorders and
    partitions (net.c), and the run of one seed (main.c).
*/
#ifndef BAZAAR_SIM_H
#define BAZAAR_SIM_H

#include "consensus.h"
#include "joining.h"

#include <stdbool.h>
#include <stdint.h>

#define SIM_MAX_REPLICAS 5
#define SIM_HEARTBEAT_MS 20
#define SIM_QUORUM_MS 150
#define SIM_CAMPAIGN_MS 100
#define SIM_MAX_BATCH 8
#define SIM_MAX_PROPOSALS 256
//  By default a disk is lost only on a replica down this long: longer
//  than every campaign and quorum timeout, as a replaced disk is
//  (--wipe-after; docs/CONSENSUS.md "A replica that lost its files
//  joins" says what a shorter one finds).
#define SIM_WIPE_DOWN_MS (2 * SIM_QUORUM_MS)

typedef struct {
    uint64_t stamp;
    uint64_t value; //  the payload: 8 bytes, a value unique to its proposal
} disk_entry_t;

//  What survives a crash.
typedef struct {
    uint64_t promised;
    uint64_t commit;
    disk_entry_t *log;
    uint64_t length, capacity;
} disk_t;

typedef struct {
    uint64_t index, value;
} proposal_t;

typedef struct {
    uint32_t id;
    bool up, paused;
    consensus_t *core;
    disk_t disk;
    unsigned char read_buffer[8];
    uint64_t covered;        //  highest commit it ever reported (across crashes)
    uint64_t promise_sent;   //  highest epoch it promised (PROMISE, PREPARE, ACK)
    uint32_t promise_sent_to;
    proposal_t proposals[SIM_MAX_PROPOSALS]; //  proposed here, fate unknown
    size_t n_proposals;
    uint64_t down_since;     //  sim time of its last crash
    bool wiped;              //  its disk was lost: it joins when it restarts
    joining_t *joining;      //  joining (services/order/joining.c), NULL once joined
    disk_t lost;             //  while joining: its lost disk (for the majority check)
    uint32_t named;          //  the replica the last broker announcement it heard names
    uint64_t started_at;     //  sim time of its last start
} replica_t;

typedef struct {
    consensus_msg_t msg;  //  entries point into entries/values below
    consensus_entry_t *entries;
    uint64_t *values;
    uint64_t deliver_at;
    uint64_t sent_at;
    bool broadcast;       //  sent to every member (the leader's PUB, in node.c)
} packet_t;

typedef struct {
    uint64_t seed, rng, now, step;
    uint64_t wipe_rng;    //  lost disks draw from their own stream: a seed's run
                          //  without one is the run it was before they came
    bool verbose, failed, chaos;
    char failure[256];
    int n;
    uint32_t ids[SIM_MAX_REPLICAS];
    replica_t replicas[SIM_MAX_REPLICAS];
    packet_t *net;
    size_t n_net, net_capacity;
    bool cut[SIM_MAX_REPLICAS][SIM_MAX_REPLICAS]; //  cut[a][b]: a's messages to b lost
    unsigned loss, duplicate;                     //  percent of messages
    uint64_t delay_max;                           //  ms
    uint64_t *truth;                              //  the committed values, by index
    uint64_t truth_length, truth_capacity;
    uint32_t *leaders;                            //  leaders[epoch]: who led it
    uint64_t leaders_capacity;
    uint64_t next_value, elections, messages, wipes, joins;
    uint64_t wipe_after;                          //  ms a replica is down before its disk may go
} sim_t;

//  sim.c
void sim_init (sim_t *sim, uint64_t seed, int n, bool verbose, uint64_t wipe_after);
void sim_free (sim_t *sim);
uint64_t sim_below (sim_t *sim, uint64_t bound);
uint64_t sim_wipe_below (sim_t *sim, uint64_t bound);
bool sim_chance (sim_t *sim, unsigned percent);
void sim_fail (sim_t *sim, const char *format, ...) __attribute__ ((format (printf, 2, 3)));
void sim_trace (sim_t *sim, const char *format, ...) __attribute__ ((format (printf, 2, 3)));
void sim_crash (sim_t *sim, replica_t *replica);
void sim_restart (sim_t *sim, replica_t *replica);
void sim_drain (sim_t *sim, replica_t *replica);
void sim_check_majority (sim_t *sim);
void sim_wipe (sim_t *sim, replica_t *replica);
bool sim_joining (const replica_t *replica);
void sim_joining_note (sim_t *sim, replica_t *replica, const packet_t *append,
                       uint64_t end_stamp);

//  net.c
void sim_net_send (sim_t *sim, const consensus_msg_t *msg);
void sim_net_deliver (sim_t *sim, size_t max);
void sim_net_free (sim_t *sim);

#endif
