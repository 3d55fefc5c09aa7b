/*  net.c - the simulated network: every message is a packet with a
    delivery time; in chaos a packet may be lost, duplicated or delayed,
    due packets are delivered in random order (reordering), a cut link
    loses what crosses it at delivery time, and a paused replica's
    packets wait for it to resume.
*/
#include "sim.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void
s_enqueue (sim_t *sim, const consensus_msg_t *msg, uint32_t to, bool broadcast)
{
    if (sim->n_net == sim->net_capacity) {
        sim->net_capacity = sim->net_capacity ? sim->net_capacity * 2 : 64;
        sim->net = realloc (sim->net, sim->net_capacity * sizeof *sim->net);
        if (!sim->net)
            abort ();
    }
    packet_t *packet = &sim->net[sim->n_net++];
    packet->msg = *msg;
    packet->msg.to = to;
    size_t n = msg->n_entries;
    packet->entries = malloc ((n + 1) * sizeof *packet->entries);
    packet->values = malloc ((n + 1) * sizeof *packet->values);
    if (!packet->entries || !packet->values)
        abort ();
    for (size_t k = 0; k < n; k++) {
        memcpy (&packet->values[k], msg->entries[k].payload, 8);
        packet->entries[k] = (consensus_entry_t) {msg->entries[k].stamp, &packet->values[k], 8};
    }
    packet->msg.entries = packet->entries;
    packet->deliver_at = sim->now + 1 + sim_below (sim, sim->delay_max);
    packet->sent_at = sim->now;
    packet->broadcast = broadcast;
    sim->messages++;
}

void
sim_net_send (sim_t *sim, const consensus_msg_t *msg)
{
    for (int r = 0; r < sim->n; r++) {
        uint32_t to = sim->ids[r];
        if (to == msg->from || (msg->to != CONSENSUS_ALL && msg->to != to))
            continue;
        if (sim->chaos && sim_chance (sim, sim->loss)) {
            sim_trace (sim, "LOST %s %u->%u", consensus_type_name (msg->type), msg->from, to);
            continue;
        }
        s_enqueue (sim, msg, to, msg->to == CONSENSUS_ALL);
        if (sim->chaos && sim_chance (sim, sim->duplicate))
            s_enqueue (sim, msg, to, msg->to == CONSENSUS_ALL);
    }
}

static void
s_drop (sim_t *sim, size_t i)
{
    free (sim->net[i].entries);
    free (sim->net[i].values);
    sim->net[i] = sim->net[--sim->n_net];
}

static bool
s_due (sim_t *sim, const packet_t *packet)
{
    const replica_t *to = &sim->replicas[packet->msg.to - 1];
    return packet->deliver_at <= sim->now && !to->paused;
}

static void
s_deliver (sim_t *sim, packet_t *packet)
{
    replica_t *to = &sim->replicas[packet->msg.to - 1];
    const consensus_msg_t *msg = &packet->msg;
    if (!to->up || sim->cut[msg->from - 1][msg->to - 1])
        return;
    sim_trace (sim, "%u->%u %s epoch %" PRIu64 " start %" PRIu64 " prev %" PRIu64 " n %zu length %"
               PRIu64 " commit %" PRIu64 " last %" PRIu64, msg->from, msg->to,
               consensus_type_name (msg->type), msg->epoch, msg->start, msg->prev_stamp,
               msg->n_entries, msg->length, msg->commit, msg->last_stamp);
    //  As node.c: a joining replica promises nothing.
    if (msg->type == CONSENSUS_PREPARE && to->joining && joining_ignores (to->joining, msg->epoch,
                                                                          msg->from)) {
        sim_trace (sim, "JOINING %u ignores the PREPARE", to->id);
        return;
    }
    uint64_t end_stamp = msg->n_entries ? msg->entries[msg->n_entries - 1].stamp
                                        : msg->prev_stamp;
    bool ends = msg->start + msg->n_entries == msg->length;
    if (consensus_step (to->core, msg, sim->now))
        sim_fail (sim, "replica %u refused a well-formed %s", to->id,
                  consensus_type_name (msg->type));
    sim_drain (sim, to);
    if (msg->type == CONSENSUS_APPEND && ends)
        sim_joining_note (sim, to, packet, end_stamp);
}

void
sim_net_deliver (sim_t *sim, size_t max)
{
    for (size_t done = 0; done < max && !sim->failed; done++) {
        size_t due = 0;
        for (size_t i = 0; i < sim->n_net; i++)
            due += s_due (sim, &sim->net[i]);
        if (!due)
            return;
        size_t pick = (size_t) sim_below (sim, due);
        for (size_t i = 0; i < sim->n_net; i++)
            if (s_due (sim, &sim->net[i]) && pick-- == 0) {
                packet_t packet = sim->net[i];
                sim->net[i] = sim->net[--sim->n_net];
                s_deliver (sim, &packet);
                free (packet.entries);
                free (packet.values);
                break;
            }
    }
}

void
sim_net_free (sim_t *sim)
{
    while (sim->n_net)
        s_drop (sim, sim->n_net - 1);
    free (sim->net);
}
