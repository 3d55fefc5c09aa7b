/*  cwire.h - the consensus core's messages on the wire.

    Maps consensus_msg_t (consensus.h) to and from msg_t (msgs.h), whose
    CS_* types msg_encode and msg_decode put on the bus: CONSENSUS_PREPARE
    is MSG_CS_PREPARE, ..., CONSENSUS_ACK is MSG_CS_ACK (the CS_ prefix
    keeps them apart from today's ACK), CONSENSUS_ENTRIES is
    MSG_CS_ENTRIES. Every field of consensus_msg_t is copied; msg_encode
    sends the ones the type's MSG_TABLE row lists, which are all the core
    reads of that type.

    An entry's payload is the encoded TRADEREC of its trade (msg_encode
    of msg_set_trade (MSG_TRADEREC)), not a msg_trade_t: a replica's log
    stores TRADERECs, so the payload the leader proposes, the bytes a
    ready asks to append and what consensus_read_fn reads back are the
    same record, with no conversion on the disk path; and the core
    compares payloads byte for byte, which one deterministic encoding
    makes a comparison of trades (a struct would compare the bytes after
    each string's NUL). On the wire an entry is the trade's fields
    [stamp, number, name, side, quantity, key], so the tap can print it
    and the decoder checks every field. The number is the entry's index:
    entry k of a message is transaction start + k, and a message that
    says otherwise is refused here (the core cannot see inside a payload).

    What stays the core's business: unknown or zero sender ids, stamps,
    epochs, start + entries overflowing, who may send what.
*/
#ifndef BAZAAR_CWIRE_H
#define BAZAAR_CWIRE_H

#include "consensus.h"
#include "msgs.h"

#include <stdbool.h>

typedef struct _cwire_t cwire_t;

//  A mapper with room for the payloads of one message. Aborts if out of
//  memory (the project's policy).
cwire_t *cwire_new (void);

//  Destroy the mapper and the payloads it holds; nothing on NULL; sets
//  *self_p to NULL.
void cwire_destroy (cwire_t **self_p);

//  True if type is one of the seven CS_* message types.
bool cwire_is_consensus (int type);

//  Fill cmsg from msg, a decoded CS_* message. cmsg's entries and their
//  payloads (encoded TRADERECs) belong to self and stay valid until the
//  next cwire_to_consensus or cwire_destroy; cmsg borrows nothing from
//  msg. Returns 0, or -1 if msg is not a consensus message, a replica id
//  does not fit in 32 bits, entry k's number is not start + k, or a
//  trade cannot be encoded.
int cwire_to_consensus (cwire_t *self, const msg_t *msg, consensus_msg_t *cmsg);

//  Fill msg (reset first) from cmsg, ready for msg_encode; msg owns its
//  entry list (msg_reset frees it). Returns 0, or -1 (msg then holds
//  nothing) if the type is unknown, entries come with a type that does
//  not carry them, there are more than MSG_LIST_MAX (the caller's
//  max_batch must not allow that), or an entry's payload is not a
//  TRADEREC numbered start + k.
int cwire_to_msg (const consensus_msg_t *cmsg, msg_t *msg);

#endif
