/*  verify_live.c - bazaar-client verify: the live checks (SPEC §4.4, §6).

    With --url, after the file checks of a round (verify.c), compares the
    gateway with what the files say: GET /stocks against the quantities
    catalog.journal leaves and the prices of catalog.stocks, a sample of
    GET /orders/<n> against the journal's records, and the next number a
    404. A 503 or a quantity not caught up yet is lag, which --wait
    retries; a wrong price, order or stock list is hard. After a transport
    error the rest of the round's requests are skipped (counted as lag).
    verify_check_order is public: bazaar-client's order checks use it too.
*/
#include "verify.h"
#include "mem.h"
#include "http_conn.h"
#include "msgs.h"
#include "verify_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERIFY_SAMPLES_MAX 200     //  GET /orders/<n> per round, the last one included

//  GET path. Returns the status (and the parsed body, NULL if not JSON),
//  or -1 after counting a transport error as lag; after one, every
//  request of the round fails at once.
static int
s_get (verify_t *self, http_conn_t *conn, const char *check, const char *path, json_t **json)
{
    const char *body = NULL;
    size_t size = 0;
    *json = NULL;
    if (self->unreachable)
        return -1;
    int status = http_conn_request (conn, "GET", path, NULL, &body, &size);
    if (status < 0) {
        verify_say (self, V_LAG, "%s: GET %s: %s", check, path, http_conn_error (conn));
        self->unreachable = true;
        return -1;
    }
    *json = json_loadb (body, size, 0, NULL);
    return status;
}

void
verify_check_stocks_live (verify_t *self, http_conn_t *conn)
{
    uint64_t problems = self->problems;
    verify_check_start (self);
    json_t *json = NULL;
    int status = s_get (self, conn, "stocks", "/stocks", &json);
    json_t *list = json_object_get (json, "data");
    if (status >= 0 && (status != 200 || !json_is_array (list)))
        verify_say (self, status == 503 ? V_LAG : V_HARD, "stocks: GET /stocks: HTTP %d%s",
                    status, status == 200 ? " without a \"data\" array" : "");
    bool *seen = mem_realloc (NULL, self->stock_count * sizeof (bool));
    memset (seen, 0, self->stock_count * sizeof (bool));
    size_t index;
    json_t *item;
    json_array_foreach (status == 200 ? list : NULL, index, item) {
        const char *name = json_string_value (json_object_get (item, "name"));
        json_t *quantity = json_object_get (item, "quantity");
        json_t *price = json_object_get (item, "price");
        uint32_t at = name ? verify_find_stock (self, name) : VERIFY_NO_STOCK;
        if (at == VERIFY_NO_STOCK || seen[at]) {
            verify_say (self, V_HARD, "stocks: GET /stocks lists %s %s",
                        name ? name : "a stock without a name",
                        at == VERIFY_NO_STOCK ? "not in catalog.stocks" : "twice");
            continue;
        }
        v_stock_t *stock = &self->stocks[at];
        seen[at] = true;
        if (!json_is_integer (quantity) || json_integer_value (quantity) < 0
            || (uint64_t) json_integer_value (quantity) != stock->quantity)
            verify_say (self, V_LAG, "stocks: %s has quantity %" JSON_INTEGER_FORMAT
                        " over HTTP, catalog.journal says %" PRIu64, name,
                        json_is_integer (quantity) ? json_integer_value (quantity) : -1,
                        stock->quantity);
        double got = json_number_value (price);
        if (!json_is_number (price) || fabs (got - stock->price) > 1e-9 * fabs (stock->price))
            verify_say (self, V_HARD, "stocks: %s has price %g over HTTP, catalog.stocks "
                        "says %g", name, got, stock->price);
    }
    for (size_t i = 0; status == 200 && json_is_array (list) && i < self->stock_count; i++)
        if (!seen[i])
            verify_say (self, V_HARD, "stocks: %s is missing from GET /stocks",
                        self->stocks[i].name);
    if (self->problems == problems)
        verify_say (self, V_OK, "stocks: %zu match", self->stock_count);
    verify_check_done (self, "stocks");
    free (seen);
    json_decref (json);
}

void
verify_check_orders_live (verify_t *self, http_conn_t *conn)
{
    uint64_t problems = self->problems;
    verify_check_start (self);
    //  Every step-th order and the last: at most VERIFY_SAMPLES_MAX.
    size_t count = self->trade_count, checked = 0;
    size_t step = count < VERIFY_SAMPLES_MAX ? 1
                                             : (count + VERIFY_SAMPLES_MAX - 2)
                                                   / (VERIFY_SAMPLES_MAX - 1);
    bool unavailable = false;   //  a 503: the next requests would only wait for theirs
    for (size_t i = 0; i < count && !self->unreachable && !unavailable;
         i = i == count - 1 ? count : i + step < count ? i + step : count - 1) {
        const v_trade_t *trade = &self->trades[i];
        if (trade->stock == VERIFY_NO_STOCK)
            continue;         //  the journal line reported it
        const char *name = self->stocks[trade->stock].name;
        bool sell = trade->side == MSG_SIDE_SELL;
        char path[64];
        snprintf (path, sizeof (path), "/orders/%" PRIu64, trade->number);
        json_t *json = NULL;
        int status = s_get (self, conn, "orders", path, &json);
        const char *why = status == 200 ? verify_check_order (json, trade->number, name, sell,
                                                              (int64_t) trade->quantity)
                                        : NULL;
        char got[32];
        snprintf (got, sizeof (got), "HTTP %d", status);
        if (status >= 0 && (status != 200 || why))
            verify_say (self, status == 503 ? V_LAG : V_HARD,
                        "orders: GET %s: %s, catalog.journal says %s %" PRIu64 " %s", path,
                        why ? why : got, sell ? "sell" : "buy", trade->quantity, name);
        unavailable = status == 503;
        checked += status >= 0;
        json_decref (json);
    }
    if (!unavailable) {
        char path[64];
        snprintf (path, sizeof (path), "/orders/%zu", count);
        json_t *json = NULL;
        int status = s_get (self, conn, "orders", path, &json);
        if (status >= 0 && status != 404)
            verify_say (self, V_LAG, "orders: GET %s: HTTP %d, expected 404: catalog.journal "
                        "has %zu trades", path, status, count);
        json_decref (json);
    }
    if (self->problems == problems && !self->unreachable)
        verify_say (self, V_OK, "orders: %zu sampled of %zu match over HTTP, /orders/%zu "
                    "is 404", checked, count, count);
    verify_check_done (self, "orders");
}

const char *
verify_check_order (json_t *json, uint64_t number, const char *name, bool sell,
                    int64_t quantity)
{
    json_t *data = json_object_get (json, "data");
    if (!json_is_object (data))
        return "reply has no \"data\" object";
    json_t *got_number = json_object_get (data, "number");
    const char *got_name = json_string_value (json_object_get (data, "name"));
    const char *type = json_string_value (json_object_get (data, "type"));
    json_t *got_quantity = json_object_get (data, "quantity");
    if (!json_is_integer (got_number) || (uint64_t) json_integer_value (got_number) != number)
        return "number differs";
    if (!got_name || strcmp (got_name, name) != 0)
        return "name differs";
    if (!type || strcmp (type, sell ? "sell" : "buy") != 0)
        return "type differs";
    if (!json_is_integer (got_quantity) || json_integer_value (got_quantity) != quantity)
        return "quantity differs";
    return NULL;
}
