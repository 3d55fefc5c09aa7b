/*  fuzz_msgs.c - libFuzzer harness for the bus message decoder.

    Every input goes through msg_decode. One that decodes must encode
    again (what the decoder accepts is within every limit the encoder
    checks), decode to the same message, encode to the same bytes, and
    print with msg_format; anything else aborts, which libFuzzer reports
    as a crash. Every input also goes through msg_decode_trade, which
    must agree with msg_decode: the same result (MSG_DECODE_TYPE for
    another type that decodes) and the same trade. Corpus: tests/fuzz/msgs/.
*/
#include "msgs.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

//  Aborts unless msg_decode_trade says what msg_decode said (rc) of data.
static void
s_check_trade (const uint8_t *data, size_t size, const msg_t *msg, int rc)
{
    if (rc == MSG_DECODE_OK && msg->type != MSG_TRADEREC)
        rc = MSG_DECODE_TYPE;
    msg_trade_t trade, want;
    if (msg_decode_trade (data, size, &trade) != rc)
        abort ();
    if (rc != MSG_DECODE_OK)
        return;
    msg_get_trade (msg, &want);
    if (trade.number != want.number || strcmp (trade.name, want.name)
        || trade.side != want.side || trade.quantity != want.quantity
        || strcmp (trade.key, want.key))
        abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    msg_t msg;
    msg_init (&msg, 0);
    int rc = msg_decode (&msg, data, size);
    s_check_trade (data, size, &msg, rc);
    if (rc != MSG_DECODE_OK)
        return 0;
    msgpack_sbuffer first, second;
    msgpack_sbuffer_init (&first);
    msgpack_sbuffer_init (&second);
    if (msg_encode (&msg, &first))
        abort ();               //  decoded, but cannot be sent on
    msg_t again;
    msg_init (&again, 0);
    if (msg_decode (&again, first.data, first.size) != MSG_DECODE_OK)
        abort ();
    if (again.type != msg.type || msg_encode (&again, &second) || second.size != first.size
        || memcmp (second.data, first.data, first.size))
        abort ();               //  the round trip changed the message
    char line[8192];
    msg_format (&msg, false, line, sizeof (line));
    msg_format (&msg, true, line, sizeof (line));
    msg_reset (&again);
    msg_reset (&msg);
    msgpack_sbuffer_destroy (&first);
    msgpack_sbuffer_destroy (&second);
    return 0;
}
