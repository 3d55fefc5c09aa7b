/*  msgs.h - the Bazaar wire protocol, written down once.

    Every message on the bus (and every record in a data file) is one
    msgpack array: [version, type, field, field, ...]. The fields of each
    type and their order are given by MSG_TABLE below; msgs.c encodes and
    decodes from that table and nothing else does.

    Field codes (one letter per field, in wire order):
      r  req_id       uint   correlates a reply with its request
      n  name         str    stock name, <= MSG_NAME_MAX bytes
      s  service      str    "catalog" or "order", <= MSG_SERVICE_MAX bytes
      k  key          str    idempotency key, <= MSG_KEY_MAX bytes (may be "")
      t  text         str    error text, <= MSG_TEXT_MAX bytes
      a  pub          str    endpoint, <= MSG_ENDPOINT_MAX bytes (may be "")
      b  rep          str    endpoint, <= MSG_ENDPOINT_MAX bytes (may be "")
      d  side         uint   0 buy, 1 sell
      q  quantity     uint   trade size, 1..MSG_QUANTITY_MAX
      Q  stock_qty    uint   a stock's quantity
      N  number       uint   a transaction's number (QUERY, COMMITTED, ORDER,
                             TRADEREC, ORDEREC)
      A  position     uint   how many trades the sender holds, one past the
                             last number it holds: a worker's (HEARTBEAT:
                             an order replica's commit position, the
                             catalog's trades applied), the replica's commit
                             position (TRADES), the catalog's (VIEW)
      M  read_position uint  the position an answer must reflect (LOOKUP,
                             LIST; read-your-writes below)
      p  price        float64
      v  version      uint   stock version: 1 + last transaction touching it
      e  epoch        uint   leader epoch
      S  seq          uint   publisher sequence number
      i  incarnation  uint   random per process start; a change means restart
      R  replica_id   uint   order replica id (0 for other workers)
      c  code         uint   msg_error_t
      o  role         uint   MSG_ROLE_*: what an order replica is doing
      L  stocks       array of [name, price, stock_qty, version]
      T  trades       array of [number, name, side, quantity, key]
      P  peers        array of [replica_id, role, number, epoch, rep]
      D  deadline     uint   when the request stops being worth doing: ms
                             since the Unix epoch on the sender's wall
                             clock (msg_now_ms); 0 means none

    Deadlines: every request the broker routes carries one. A worker
    drops a request whose deadline has passed before doing anything for
    it (worker.c), because its client has given up and answered 503. The
    deadline is absolute wall-clock time, not a budget converted at each
    hop: the case it exists for is a request that waited in the queue of
    a paused or slow process, and only an absolute time shows the wait.
    So the hosts' clocks must agree (NTP); docs/DESIGN.md says what skew
    costs.
      W  workers      array of [service, replica_id, incarnation, age_ms,
                      registered, role, number, epoch] (the broker's view)
      I  in_sync      array of replica ids (a leader's in-sync followers)
      x  silent_leader uint  HEARTBEAT of an order replica: the leader the
                             broker names, which this replica has not heard
                             for MSG_LEADER_SILENT_MS (0: it hears it, or it
                             leads); sent at once when it changes, so the
                             broker can expire a leader cut off from the
                             network before its heartbeats run out

    Consensus (the CS_* types, services/order/consensus.h; cwire.h maps
    them to consensus_msg_t). R is the sender's replica id in all seven.
      u  to           uint   the recipient's replica id, 0 = every member
                             but the sender (an APPEND on the leader's PUB)
      f  start        uint   index of the first entry (APPEND, ENTRIES), or
                             the first one wanted (FETCH; RANGE: the first
                             trade number; LEARN: its first trade's number)
      h  prev_stamp   uint   stamp of entry start-1 (0 when start is 0)
      l  last_stamp   uint   stamp of the sender's last entry (0: empty log)
      g  length       uint   a log length: the sender's (PROMISE, APPEND,
                             ENTRIES) or the one that matches (CS_ACK)
      m  commit       uint   the sender's commit position: entries below it
                             are committed
      w  stamp        uint   an order log record's stamp (consensus.h)
      E  entries      array of [stamp, number, name, side, quantity, key]:
                      log entries, each one trade and the stamp it was
                      accepted under; number is the entry's index

    Learners (catalogs) take LEARN from the leader's PUB, not CS_APPEND:
    one message per commit, with the trades it committed, instead of the
    entries and then an empty APPEND with the new position (a wakeup less
    per commit in every catalog; docs/DESIGN.md "Consensus").
    A LEARN holds committed trades only, whoever the sender, so a learner
    applies it without asking which epoch sent it.

    Peer link: every order replica binds a ROUTER on its --rep endpoint.
    Peers (replicas, the catalog copying what it missed) reach it from a
    DEALER with REQ framing, [empty][RANGE], and get [empty][TRADES] back;
    replicas send each other their CS_* messages the same way, which are
    not answered on that connection (the reply travels on the receiver's
    own link to the sender's endpoint).

    Read-your-writes: LOOKUP and LIST carry M, the position the answer
    must reflect: the catalog answers once it has applied trades 0 .. M-1
    (M = 0: at once). A gateway sends 1 + the highest transaction number
    it acknowledged, so no lookup through it shows a quantity older than
    a trade it answered; a catalog behind waits a bounded time for the
    committed log (services/catalog/waiting.h), then answers UNAVAILABLE.

    Routing: a client (a gateway, or a tool such as bazaar-client)
    sends one frame to the broker's ROUTER. The broker picks a worker by
    msg_service (type) and forwards [client identity][frame]; the worker
    answers [client identity][reply frame]; the broker sends the reply
    frame back to that client.
*/
#ifndef BAZAAR_MSGS_H
#define BAZAAR_MSGS_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  The data files' records carry it too, so it changes only with them. A
//  message that gains or loses a field is refused by an older decoder
//  (wrong number of fields): every process of a system runs the same
//  build.
#define MSG_VERSION 1

#define MSG_NAME_MAX 64
#define MSG_SERVICE_MAX 16
#define MSG_KEY_MAX 64
#define MSG_TEXT_MAX 128
#define MSG_ENDPOINT_MAX 256
#define MSG_QUANTITY_MAX 1000000000ULL
#define MSG_LIST_MAX 10000       //  stocks, trades or entries in one message
//  No message is larger: ZMQ_MAXMSGSIZE of every socket that receives
//  from the bus (src/sockets.c), so a bigger frame is refused by libzmq
//  before it is held. The largest legal message is a CS_ENTRIES of
//  MSG_LIST_MAX entries with the longest names and keys, about 1.6 MB.
#define MSG_FRAME_MAX (2 * 1024 * 1024)
//  A message without a list (every type but STOCKS, TRADES, LEADER, LEARN,
//  CS_APPEND, CS_ENTRIES) is never longer than this; a longer one is
//  refused before it is unpacked.
#define MSG_SMALL_MAX 2048

#define MSG_SIDE_BUY 0
#define MSG_SIDE_SELL 1

//  What an order replica reports in its heartbeats. The broker elects the
//  highest id among replicas that are not catching up.
#define MSG_ROLE_CATCHING_UP 0   //  (re)started: copying what peers hold
#define MSG_ROLE_FOLLOWER 1      //  caught up, applying the leader's PUB
#define MSG_ROLE_CANDIDATE 2     //  elected: catching up, claiming an epoch
#define MSG_ROLE_LEADER 3        //  a majority promised it its epoch
#define MSG_ROLE_MAX 3

//  Timing and sizes both ends of a link rely on.
#define MSG_HEARTBEAT_MS 250     //  worker <-> broker, and LEADER announcements
//  A follower that has not heard its leader (an APPEND on its PUB at least
//  every 50 ms, services/order/node.c) for this long reports it silent in
//  its heartbeat (x). Three missed leader heartbeats: a lost TCP segment
//  (retransmitted after 200 ms or more) can still make one follower report.
#define MSG_LEADER_SILENT_MS 150
#define MSG_RANGE_CHUNK MSG_LIST_MAX  //  trades per RANGE reply at most: one full list
//  The catalog's PUB carries an INVALIDATE at least every MSG_BEACON_MS
//  (a beacon when no trade changed a stock); a gateway that hears nothing
//  for MSG_SILENCE_MS takes the catalog for stalled or cut off and stops
//  caching until it speaks again.
#define MSG_BEACON_MS 100
#define MSG_SILENCE_MS 1000
//  The high-water mark of the bus sockets that queue bursts (broker and
//  worker links, replica PUB and REP, subscribers): messages held per
//  peer before a PUB drops or a ROUTER or DEALER refuses more.
#define MSG_HWM 100000
//  Consensus entries (services/order): at most MSG_APPEND_BATCH entries
//  in one APPEND or ENTRIES, except that a recovered (re-stamped) tail and
//  a promiser's uncommitted tail travel whole (docs/CONSENSUS.md). So the
//  leader proposes nothing new while MSG_UNCOMMITTED_MAX entries are past
//  its commit position (503 at once). Half of MSG_LIST_MAX leaves room
//  for a batch that starts below such a tail and for a follower's commit
//  position lagging its leader's, so the longest message still encodes.
#define MSG_APPEND_BATCH 1000
#define MSG_UNCOMMITTED_MAX (MSG_LIST_MAX / 2)
#define MSG_PEERS_MAX 64

//  X (NAME, code, fields, service, what it is). Codes of retired types
//  are not reused: 12 APPLY, 13 JOURNAL, 14 CLAIM, 45 EPOCH, 61 REPLICATE,
//  62 ACK, 72 EPOCHREC (the catalog's epochs and the leader's replication
//  before consensus); a frame with one of them is an unknown type.
#define MSG_TABLE(X)                                                         \
    X (HEARTBEAT, 1, "sRiabAeoIx", "", "worker -> broker: alive, position A, epoch, role, in-sync set (leader), the leader it does not hear; first one registers") \
    X (LEADER, 2, "ReabP", "", "broker -> workers: the order leader (0: none), its epoch, endpoints; every replica") \
    X (LOOKUP, 10, "rnMD", "catalog", "look up one stock, once M trades are applied") \
    X (LIST, 11, "rMD", "catalog", "list every stock, once M trades are applied") \
    X (STATUS, 15, "r", "broker", "ask the broker itself for its view (answered with VIEW)") \
    X (TRADE, 20, "rndqkD", "order", "place an order")                       \
    X (QUERY, 21, "rND", "order", "read order number N")                     \
    X (RANGE, 22, "rfq", "", "peer -> replica REP: its committed trades from number f, at most q") \
    X (STOCK, 40, "rnpQv", "", "reply: one stock")                           \
    X (STOCKS, 41, "rL", "", "reply: every stock, sorted by name")           \
    X (COMMITTED, 42, "rNndqkQv", "", "reply: trade committed as number N")   \
    X (ORDER, 43, "rNndq", "", "reply: one order")                           \
    X (TRADES, 44, "rAT", "", "reply: the replica's commit position A, trades in number order")      \
    X (VIEW, 46, "rReAWI", "", "broker reply: leader R, epoch, the catalog's position A, workers, in-sync set") \
    X (ERROR, 49, "rct", "", "reply: request failed with code")              \
    X (INVALIDATE, 60, "iSnv", "", "catalog PUB: stock changed")             \
    X (LEARN, 64, "RefmT", "", "leader PUB -> learners: trades committed from number f, commit position m (no trades: a beacon)") \
    X (STOCKDEF, 70, "npQ", "", "catalog file record: initial stock")        \
    X (TRADEREC, 71, "Nndqk", "", "journal / order log record: one trade") \
    X (ORDEREC, 73, "Nndqkwm", "", "order log record: one entry, its stamp w, the writer's commit position m") \
    X (CS_PREPARE, 80, "Rue", "", "candidate -> replicas: promise me epoch e") \
    X (CS_PROMISE, 81, "Ruelgm", "", "replica -> candidate: e promised; my last stamp, length, commit") \
    X (CS_REFUSE, 82, "Rue", "", "replica -> sender: below my promise, which is e") \
    X (CS_APPEND, 83, "RuefhgmE", "", "leader -> replicas: entries from start after prev_stamp; my length, commit") \
    X (CS_ACK, 84, "Rueg", "", "follower -> leader: my log matches yours to length, durably") \
    X (CS_FETCH, 85, "Ruef", "", "replica -> peer: send me your entries from start") \
    X (CS_ENTRIES, 86, "RuefhgmE", "", "peer -> replica: answer to CS_FETCH; my length, commit")

typedef enum {
#define MSG_ENUM(NAME, CODE, FIELDS, SERVICE, DOC) MSG_##NAME = CODE,
    MSG_TABLE (MSG_ENUM)
#undef MSG_ENUM
} msg_type_t;

//  X (NAME, http status, text) - errors a worker or broker replies with,
//  then the gateway's own refusals of a request (never on the wire): every
//  error the API answers has its status and text here.
#define MSG_ERROR_TABLE(X)                                       \
    X (OK, 200, "ok")                                            \
    X (STOCK_NOT_FOUND, 404, "stock not found")                  \
    X (TXN_NOT_FOUND, 404, "transaction not found")              \
    X (NOT_ENOUGH, 409, "not enough stocks available to buy")    \
    X (INVALID_TYPE, 400, "invalid request type")                \
    X (INVALID_QUANTITY, 400, "invalid number of stocks")        \
    X (MALFORMED, 400, "malformed request")                      \
    X (UNAVAILABLE, 503, "service unavailable")                  \
    X (STALE_EPOCH, 503, "service unavailable")                  \
    X (REFUSED, 503, "service unavailable")                      \
    X (BAD_MESSAGE, 400, "malformed request")                    \
    X (INTERNAL, 500, "internal error")                          \
    X (KEY_REUSED, 422, "idempotency key reused with a different request") \
    X (OUTCOME_UNKNOWN, 504, "outcome unknown")                  \
    X (NO_ROUTE, 404, "not found")                               \
    X (METHOD_NOT_ALLOWED, 405, "method not allowed")            \
    X (TOO_LARGE, 413, "request too large")                      \
    X (INVALID_NUMBER, 400, "invalid order number")

typedef enum {
#define MSG_ERR_ENUM(NAME, HTTP, TEXT) MSG_ERR_##NAME,
    MSG_ERROR_TABLE (MSG_ERR_ENUM)
#undef MSG_ERR_ENUM
    MSG_ERR_COUNT
} msg_error_t;

//  Why msg_decode refused a buffer (negative return values).
typedef enum {
    MSG_DECODE_OK = 0,
    MSG_DECODE_FORMAT = -1,    //  not msgpack, or not an array
    MSG_DECODE_TRAILING = -2,  //  bytes left after the array
    MSG_DECODE_VERSION = -3,   //  unknown protocol version
    MSG_DECODE_TYPE = -4,      //  unknown message type
    MSG_DECODE_FIELDS = -5,    //  wrong number of fields
    MSG_DECODE_FIELD = -6,     //  a field has the wrong type or range
    MSG_DECODE_TOO_LONG = -7   //  a string or list is over its limit
} msg_decode_error_t;

typedef struct {
    char name[MSG_NAME_MAX + 1];
    double price;
    uint64_t stock_qty;
    uint64_t version;
} msg_stock_t;

typedef struct {
    uint64_t replica_id;
    uint8_t role;
    uint64_t number;
    uint64_t epoch;
    char rep[MSG_ENDPOINT_MAX + 1];
} msg_peer_t;

//  One worker as the broker sees it (VIEW). registered is 0 for a worker
//  that left recently (kept a while so people see who is missing).
typedef struct {
    char service[MSG_SERVICE_MAX + 1];
    uint64_t replica_id;
    uint64_t incarnation;
    uint64_t age_ms;          //  since its last heartbeat
    uint8_t registered;       //  0 or 1
    uint8_t role;
    uint64_t number;
    uint64_t epoch;
} msg_worker_t;

typedef struct {
    uint64_t number;
    char name[MSG_NAME_MAX + 1];
    uint8_t side;
    uint64_t quantity;
    char key[MSG_KEY_MAX + 1];
} msg_trade_t;

//  A consensus log entry: one trade (trade.number is the entry's index)
//  and the stamp it was accepted under (consensus.h).
typedef struct {
    uint64_t stamp;
    msg_trade_t trade;
} msg_entry_t;

//  One decoded message. Only the fields of its type are meaningful.
//  Lists are heap-allocated and owned: call msg_reset before reuse.
typedef struct {
    msg_type_t type;
    uint64_t req_id;
    char name[MSG_NAME_MAX + 1];
    char service[MSG_SERVICE_MAX + 1];
    char key[MSG_KEY_MAX + 1];
    char text[MSG_TEXT_MAX + 1];
    char pub[MSG_ENDPOINT_MAX + 1];
    char rep[MSG_ENDPOINT_MAX + 1];
    uint8_t side;
    uint64_t quantity;
    uint64_t stock_qty;
    uint64_t number;
    uint64_t position;
    uint64_t read_position;
    double price;
    uint64_t version;
    uint64_t epoch;
    uint64_t seq;
    uint64_t incarnation;
    uint64_t replica_id;
    uint64_t code;
    uint8_t role;
    uint64_t deadline;
    msg_stock_t *stocks;
    size_t stock_count;
    msg_trade_t *trades;
    size_t trade_count;
    msg_peer_t *peers;
    size_t peer_count;
    msg_worker_t *workers;
    size_t worker_count;
    uint64_t *in_sync;
    size_t in_sync_count;
    uint64_t silent_leader;
    uint64_t to;
    uint64_t start;
    uint64_t prev_stamp;
    uint64_t last_stamp;
    uint64_t length;
    uint64_t commit;
    uint64_t stamp;
    msg_entry_t *entries;
    size_t entry_count;
} msg_t;

//  Zero a message and set its type. Does not free lists: use msg_reset.
void msg_init (msg_t *self, msg_type_t type);

//  Free the lists a message owns and zero it.
void msg_reset (msg_t *self);

//  Zero self, make it a message of type and copy the trade's number,
//  name, side, quantity and key into it (TRADEREC, COMMITTED, ORDER...).
void msg_set_trade (msg_t *self, msg_type_t type, const msg_trade_t *trade);

//  Copy number, name, side, quantity and key out of a message.
void msg_get_trade (const msg_t *self, msg_trade_t *trade);

//  Replace self's in-sync list with a copy of ids[0..count). Returns 0,
//  or -1 (list unchanged) if out of memory or count > MSG_PEERS_MAX.
int msg_set_in_sync (msg_t *self, const uint64_t *ids, size_t count);

//  Encode into out, replacing its contents. Returns 0, or -1 if a string
//  or list is over its limit or the type is unknown.
int msg_encode (const msg_t *self, msgpack_sbuffer *out);

//  Decode one whole buffer into self (which is reset first). Returns
//  MSG_DECODE_OK or a negative msg_decode_error_t; on error self holds
//  no allocations. Before anything is unpacked, the array header,
//  version, type and field count are read from the first bytes, a buffer
//  over MSG_FRAME_MAX (or MSG_SMALL_MAX for a type without a list) is
//  refused, and every array or map header is checked against the bytes
//  left and MSG_LIST_MAX: a hostile buffer costs no more than its size.
int msg_decode (msg_t *self, const void *data, size_t size);

//  Decode one whole buffer that must be a TRADEREC (the record of the
//  trade files) into trade, without a msg_t: replaying a million records
//  at start-up cannot afford to clear and fill a whole msg_t for each.
//  Refuses exactly what msg_decode refuses, with the same error, and a
//  message of any other type with MSG_DECODE_TYPE. On MSG_DECODE_OK trade
//  holds what msg_decode then msg_get_trade would give; on an error it
//  may hold part of it. The usual encoding (msg_encode's) is read
//  directly, anything else by msg_decode.
int msg_decode_trade (const void *data, size_t size, msg_trade_t *trade);

//  The same for an ORDEREC (an order replica's log record): the trade,
//  its stamp and the commit position its writer had.
int msg_decode_order (const void *data, size_t size, msg_trade_t *trade, uint64_t *stamp,
                      uint64_t *commit);

//  The req_id of an encoded message whose first field is one, read from
//  its first bytes without decoding the rest (the broker matches replies
//  it forwards). Returns 0, or -1 if data is not such a message.
int msg_peek_req_id (const void *data, size_t size, uint64_t *req_id);

//  The first bytes of every encoded message of type (array header,
//  version, type): a SUB subscribes to them to receive that type only.
#define MSG_TOPIC_SIZE 3
void msg_topic (msg_type_t type, unsigned char topic[MSG_TOPIC_SIZE]);

//  The same for a message of type with any number of fields (up to 15),
//  malformed ones included, for a subscriber that must see and refuse
//  them: writes MSG_TOPIC_SHAPES topics.
#define MSG_TOPIC_SHAPES 16
void msg_topics_any_shape (msg_type_t type, unsigned char topics[][MSG_TOPIC_SIZE]);

//  Text for a msg_decode error.
const char *msg_decode_strerror (int rc);

//  The clock deadlines are measured on: wall-clock ms since the Unix epoch.
uint64_t msg_now_ms (void);

//  True if self carries a deadline (not 0) that is at or before now_ms.
bool msg_expired (const msg_t *self, uint64_t now_ms);

//  "LOOKUP", or "UNKNOWN" for a code not in the table.
const char *msg_type_name (int type);

//  The service a request type is for ("catalog", "order", or "broker" for
//  the requests the broker answers itself), or NULL if the type is not a
//  request.
const char *msg_service (int type);

//  True for reply types (STOCK, STOCKS, COMMITTED, ORDER, TRADES, VIEW,
//  ERROR).
bool msg_is_reply (int type);

//  "leader", "follower"... for a MSG_ROLE_* value.
const char *msg_role_name (int role);

//  HTTP status and text of an error code (500 "internal error" if unknown).
int msg_error_http (uint64_t code);
const char *msg_error_text (uint64_t code);

//  Describe a message in one line: human "TYPE field=value ..." or, if
//  json, a JSON object. Writes at most size bytes; returns the length it
//  wanted (like snprintf).
int msg_format (const msg_t *self, bool json, char *buf, size_t size);

#endif
