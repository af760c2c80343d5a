/* sim_journey.c - the journeys (browse, register + log in, check out) as small step machines */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "sim_journey.h"
#include "sim_sched.h"

static const char *const sim_jr_cards[] = { "4242424242424242", "4000000000000002", "4000000000009995" };

void
sim_journey_init(struct sim_jstate *js, const struct sim_load_cfg *cfg, uint64_t idx)
{
	const struct sim_scenario *sc = cfg->sc;
	double w = sc->mix[0] + sc->mix[1] + sc->mix[2], u;

	memset(js, 0, sizeof(*js));
	js->idx = idx;
	js->rng = sc->seed ^ (idx * 0x9e3779b97f4a7c15ULL);
	sim_rand_next(&js->rng);
	js->raw = cfg->raw_url != NULL;
	u = sim_rand_unit(&js->rng) * w;
	js->type = u < sc->mix[0] ? SIM_J_BROWSE : u < sc->mix[0] + sc->mix[1] ? SIM_J_REGISTER : SIM_J_CHECKOUT;
	if (js->raw)
		js->type = SIM_J_BROWSE;
	js->product = sc->product_lo + (int64_t)(sim_rand_next(&js->rng) % (uint64_t)(sc->product_hi - sc->product_lo + 1));
	js->user = cfg->nusers ? (int)(sim_rand_next(&js->rng) % cfg->nusers) : -1;
	js->replay = sim_rand_unit(&js->rng) < sc->replay_share;
	snprintf(js->key, sizeof(js->key), "sim-%s-%llu", cfg->nonce, (unsigned long long)idx);
}

void
sim_journey_free(struct sim_jstate *js)
{
	free(js->first_body);
	js->first_body = NULL;
}

static void
sim_jr_order_body(struct sim_jstate *js, const struct sim_scenario *sc, char *out, size_t outsz)
{
	uint64_t r = js->rng ^ 0x5bd1e995;      /* a copy: the same body again on replay */
	double u = sim_rand_unit(&r);
	const char *card = u < sc->decline_share ? sim_jr_cards[1] :
			   u < sc->decline_share + sc->insufficient_share ? sim_jr_cards[2] : sim_jr_cards[0];
	int qty = 1 + (int)(sim_rand_next(&r) % 2);

	snprintf(out, outsz, "{\"items\":[{\"product_id\":%lld,\"quantity\":%d}],"
		 "\"card\":{\"number\":\"%s\",\"exp_month\":12,\"exp_year\":2030,\"cvc\":\"123\"}}",
		 (long long)js->product, qty, card);
}

int
sim_journey_request(struct sim_jstate *js, const struct sim_load_cfg *cfg, struct sim_jreq *rq)
{
	const char *gw = cfg->gateway;

	memset(rq, 0, sizeof(*rq));
	rq->method = "GET";
	if (js->raw) {
		if (js->step > 0)
			return 1;
		snprintf(rq->url, sizeof(rq->url), "%s", cfg->raw_url);
		return 0;
	}
	switch (js->type) {
	case SIM_J_BROWSE:
		if (js->step == 0)
			snprintf(rq->url, sizeof(rq->url), "%s/api/v1/products?limit=20&after=%lld", gw,
				 (long long)(js->product - 1));
		else if (js->step == 1)
			snprintf(rq->url, sizeof(rq->url), "%s/api/v1/products/%lld", gw, (long long)js->product);
		else if (js->step == 2)
			snprintf(rq->url, sizeof(rq->url), "%s/api/v1/inventory/%lld", gw, (long long)js->product);
		else
			return 1;
		return 0;
	case SIM_J_REGISTER:
		if (js->step > 1)
			return 1;
		rq->method = "POST";
		snprintf(rq->url, sizeof(rq->url), "%s/api/v1/%s", gw, js->step == 0 ? "users" : "auth/login");
		snprintf(rq->body, sizeof(rq->body), "{\"email\":\"j%llu-%s@sim.shoplab.test\",\"password\":\"simpassword1\"%s}",
			 (unsigned long long)js->idx, cfg->nonce, js->step == 0 ? ",\"name\":\"Sim Shopper\"" : "");
		return 0;
	case SIM_J_CHECKOUT:
		if (js->user < 0)
			return 1;
		rq->token = cfg->users[js->user].token;
		if (js->step == 0) {
			snprintf(rq->url, sizeof(rq->url), "%s/api/v1/products/%lld", gw, (long long)js->product);
		} else if (js->step == 1 || js->step == 2) {
			rq->method = "POST";
			snprintf(rq->url, sizeof(rq->url), "%s/api/v1/orders", gw);
			snprintf(rq->key, sizeof(rq->key), "%s", js->key);
			sim_jr_order_body(js, cfg->sc, rq->body, sizeof(rq->body));
		} else if (js->step == 3 && js->order_id > 0) {
			snprintf(rq->url, sizeof(rq->url), "%s/api/v1/orders/%lld", gw, (long long)js->order_id);
		} else {
			return 1;
		}
		return 0;
	default:
		return 1;
	}
}

static enum sim_outcome
sim_jr_classify(int code, long status)
{
	switch (code) {
	case CURLE_OK:
		break;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		return SIM_OUT_CONNECT;
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return SIM_OUT_UNKNOWN;
	default:
		return SIM_OUT_OTHER;
	}
	if (status >= 200 && status < 400)
		return SIM_OUT_OK;
	if (status == 429)
		return SIM_OUT_429;
	if (status >= 400 && status < 500)
		return SIM_OUT_4XX;
	return SIM_OUT_5XX;
}

static int64_t
sim_jr_body_id(const char *body)
{
	json_object *o = json_tokener_parse(body), *id;
	int64_t v = 0;

	if (o && json_object_object_get_ex(o, "id", &id))
		v = json_object_get_int64(id);
	json_object_put(o);
	return v;
}

static struct sim_ck_client *
sim_jr_client_add(struct sim_load_stats *st, const char *key, size_t *at)
{
	if (st->nclients == st->clients_cap) {
		size_t nc = st->clients_cap ? st->clients_cap * 2 : 1024;
		struct sim_ck_client *n = realloc(st->clients, nc * sizeof(*n));

		if (n == NULL)
			return NULL;
		st->clients = n;
		st->clients_cap = nc;
	}
	*at = st->nclients;
	memset(&st->clients[*at], 0, sizeof(st->clients[0]));
	snprintf(st->clients[*at].key, sizeof(st->clients[0].key), "%s", key);
	st->nclients++;
	return &st->clients[*at];
}

/* The first answer to the order POST: recorded for the checker. */
static enum sim_outcome
sim_jr_order_answer(struct sim_jstate *js, struct sim_load_stats *st, enum sim_outcome o,
    long status, const char *body)
{
	struct sim_ck_client *c = sim_jr_client_add(st, js->key, &js->client);

	if (o == SIM_OUT_4XX && (status == 402 || (status == 409 && strstr(body, "out_of_stock")))) {
		o = SIM_OUT_OK;
		if (status == 402)
			st->declined++;
		else
			st->out_of_stock++;
	}
	if (c == NULL)
		return o;
	c->status = (int)status;
	if (o == SIM_OUT_UNKNOWN) {
		c->outcome = SIM_CK_UNKNOWN;
		c->status = 0;
	} else if (status >= 200 && status < 300) {
		c->outcome = SIM_CK_ACKED;
		c->order_id = js->order_id = sim_jr_body_id(body);
		st->pending += status == 202;
	} else if (o == SIM_OUT_OK) {
		c->outcome = SIM_CK_REFUSED;
	} else {
		c->outcome = SIM_CK_FAILED;
	}
	js->first_status = (int)status;
	js->first_body = strdup(body);
	return o;
}

enum sim_outcome
sim_journey_answer(struct sim_jstate *js, const struct sim_load_cfg *cfg,
    struct sim_load_stats *st, int code, long status, const char *body,
    bool *done)
{
	enum sim_outcome o = sim_jr_classify(code, status);

	(void)cfg;
	*done = false;
	if (js->type == SIM_J_CHECKOUT && js->step == 1) {
		o = sim_jr_order_answer(js, st, o, status, body);
		/* Replay only a definite answer (201, 402, 409): a 202's order is still moving. */
		if (o == SIM_OUT_OK && js->replay && status != 202) {
			js->step = 2;
			return o;
		}
		js->step = 3;
		if (o != SIM_OUT_OK || js->order_id <= 0)
			*done = true;
		return o;
	}
	if (js->type == SIM_J_CHECKOUT && js->step == 2) {
		struct sim_ck_client *c = &st->clients[js->client];

		c->replayed = true;
		c->replay_status = (int)status;
		c->replay_same = code == CURLE_OK && status == js->first_status && js->first_body &&
				 strcmp(js->first_body, body) == 0;
		if (o == SIM_OUT_4XX && (status == 402 || status == 409))
			o = SIM_OUT_OK;
		js->step = 3;
		if (js->order_id <= 0)
			*done = true;
		return o;
	}
	js->step++;
	if (o != SIM_OUT_OK)
		*done = true;
	return o;
}
