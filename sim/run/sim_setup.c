/* sim_setup.c - prepares the data a scenario needs: stock per product, users with tokens */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "sim_env.h"
#include "sim_http.h"
#include "sim_load.h"

static void
sim_setup_sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	(void)nanosleep(&ts, NULL);     /* a signal cuts it short: the caller checks its flag */
}

static bool
sim_setup_stopped(const volatile sig_atomic_t *stop, char *err, size_t errsz)
{
	if (stop == NULL || *stop == 0)
		return false;
	snprintf(err, errsz, "interrupted");
	return true;
}

bool
sim_setup_transient(long status)
{
	return status == -1 || status == 429 || status == 502 || status == 503 || status == 504;
}

/*
 * One set-up request, sent again while its answer is transient (sim_setup_transient): after
 * pace_s, then 1 s after a 429 and 0.25 s doubling to 2 s after the others, at most 20 tries
 * (about 35 s of a service restarting). Returns the last status; -2 when stopped by a signal.
 */
static long
sim_setup_http(const char *method, const char *url, const char *body, const char *token,
    double pace_s, const volatile sig_atomic_t *stop, char *out, size_t outsz)
{
	double wait = 0.25;
	long st = -1;

	for (int attempt = 0; attempt < 20; attempt++) {
		if (pace_s > 0)
			sim_setup_sleep_s(pace_s);
		if (stop != NULL && *stop != 0)
			return -2;
		st = sim_http(method, url, body, token, 10000, out, outsz);
		if (!sim_setup_transient(st))
			break;
		sim_setup_sleep_s(st == 429 ? 1.0 : wait);
		if (wait < 2.0)
			wait *= 2;
	}
	return st;
}

/* Logs in, pacing at rate and waiting out 429s and restarts; copies the token. */
static int
sim_setup_login(const char *gw, const char *email, const char *pw, double rate, char *token,
    size_t tokensz, const volatile sig_atomic_t *stop, char *err, size_t errsz)
{
	char url[512], body[512], out[4096];
	json_object *o, *t;
	long st;

	snprintf(url, sizeof(url), "%s/api/v1/auth/login", gw);
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", email, pw);
	st = sim_setup_http("POST", url, body, NULL, 1.0 / rate, stop, out, sizeof(out));
	if (st == -2 && sim_setup_stopped(stop, err, errsz))
		return -1;
	if (st != 200) {
		snprintf(err, errsz, "login of %s answered %ld: %.200s", email, st, out);
		return -1;
	}
	o = json_tokener_parse(out);
	if (o == NULL || !json_object_object_get_ex(o, "token", &t)) {
		json_object_put(o);
		snprintf(err, errsz, "login of %s: no token in %.200s", email, out);
		return -1;
	}
	snprintf(token, tokensz, "%s", json_object_get_string(t));
	json_object_put(o);
	return 0;
}

int
sim_setup_data(const struct sim_scenario *sc, const char *gw, const char *nonce,
    struct sim_user *users, const volatile sig_atomic_t *stop, char *err, size_t errsz)
{
	char admin[1024], url[512], body[512], out[1024];
	long st;

	if (sc->stock >= 0) {
		if (sim_setup_login(gw, sim_env("SHOPLAB_ADMIN_EMAIL", "admin@shoplab.test"),
			  sim_env("SHOPLAB_ADMIN_PASSWORD", ""), sc->login_rate, admin, sizeof(admin), stop, err, errsz))
			return -1;
		for (int64_t p = sc->product_lo; p <= sc->product_hi; p++) {
			if (sim_setup_stopped(stop, err, errsz))
				return -1;
			snprintf(url, sizeof(url), "%s/api/v1/inventory/%lld", gw, (long long)p);
			snprintf(body, sizeof(body), "{\"available\":%lld}", (long long)sc->stock);
			st = sim_setup_http("PUT", url, body, admin, 0, stop, out, sizeof(out));
			if (st == -2 && sim_setup_stopped(stop, err, errsz))
				return -1;
			if (st != 200) {
				snprintf(err, errsz, "PUT %s answered %ld: %.200s", url, st, out);
				return -1;
			}
		}
	}
	snprintf(url, sizeof(url), "%s/api/v1/users", gw);
	for (int i = 0; i < sc->users; i++) {
		if (sim_setup_stopped(stop, err, errsz))
			return -1;
		snprintf(users[i].email, sizeof(users[i].email), "u%d-%s@sim.shoplab.test", i, nonce);
		snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"simpassword1\",\"name\":\"Sim User %d\"}",
			 users[i].email, i);
		/* A retry after no answer may find the account made: 409 is as good as 201. */
		st = sim_setup_http("POST", url, body, NULL, 0, stop, out, sizeof(out));
		if (st == -2 && sim_setup_stopped(stop, err, errsz))
			return -1;
		if (st != 201 && st != 409) {
			snprintf(err, errsz, "POST %s answered %ld: %.200s", url, st, out);
			return -1;
		}
		if (sim_setup_login(gw, users[i].email, "simpassword1", sc->login_rate, users[i].token,
			  sizeof(users[i].token), stop, err, errsz))
			return -1;
	}
	return 0;
}
