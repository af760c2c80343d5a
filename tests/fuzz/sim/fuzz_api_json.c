/* fuzz_api_json.c - libFuzzer target: control API requests (route + JSON body) never crash */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"
#include "proxy_api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct { const char *method, *path; } routes[] = {
	{ "POST", "/proxies/p/toxics" },
	{ "PATCH", "/proxies/p/toxics/t" },
	{ "POST", "/proxies/p" },
	{ "POST", "/proxies" },
	{ "POST", "/populate" },
	{ "GET", "/proxies" },
	{ "GET", "/metrics" },
	{ "POST", "/reset" },
};

static uint64_t fixed_clock(void)
{
	return 1000000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sim_ctx ctx;
	struct sim_proxy *p;
	struct sim_toxic *t;
	struct sim_reply rep = { 0, NULL, NULL };
	size_t r;

	if (size < 1)
		return 0;
	if (ctx.base == NULL) {
		ctx.base = event_base_new();
		ctx.now_us = fixed_clock;
		if (ctx.base == NULL)
			return 0;
	}
	/* a disabled proxy "p" with a latency toxic "t": binds nothing */
	p = sim_proxy_new(&ctx, "p", "127.0.0.1:0", "127.0.0.1:9");
	t = calloc(1, sizeof(*t));
	if (p == NULL || t == NULL) {
		free(t);
		sim_proxy_free(p);
		return 0;
	}
	sim_proxy_link_in(&ctx, p);
	t->type = sim_toxic_type_find(data[0] & 1 ? "fcgi_abort" : "latency");
	t->toxicity = 1.0f;
	t->dir = t->type->fcgi ? SIM_UP : SIM_DOWN;
	snprintf(t->name, sizeof(t->name), "t");
	snprintf(t->stream, sizeof(t->stream), "%s", t->type->fcgi ? "upstream" : "downstream");
	sim_toxic_set_defaults(t);
	sim_toxic_attach(p, t);
	r = (data[0] >> 1) % (sizeof(routes) / sizeof(routes[0]));
	rep.body = evbuffer_new();
	if (rep.body != NULL) {
		/* routes that create enabled proxies may bind loopback ports; all are freed below */
		sim_api_handle(&ctx, routes[r].method, routes[r].path, (const char *)data + 1, size - 1,
		               "fuzz", &rep);
		evbuffer_free(rep.body);
	}
	sim_proxies_free_all(&ctx);
	return 0;
}
