/* sim_journey.h - one user journey's steps: which request comes next and what an answer means */
#ifndef SIM_JOURNEY_H
#define SIM_JOURNEY_H

#include <stdbool.h>
#include <stdint.h>

#include "sim_load.h"

struct sim_jstate {
	enum sim_journey type;
	bool raw;
	int step;
	uint64_t idx;                   /* arrival number, from 0 */
	uint64_t rng;
	int64_t product;
	int user;
	bool replay;
	char key[65];
	int64_t order_id;
	size_t client;                  /* index in stats->clients, checkouts only */
	int first_status;
	char *first_body;               /* owned */
};

struct sim_jreq {
	const char *method;             /* GET, POST, PUT */
	char url[512];
	char body[1024];                /* empty: no body */
	char key[65];                   /* Idempotency-Key, when set */
	const char *token;              /* bearer token, when set */
};

/* Picks the journey type and its data from the seed and the arrival number. */
void sim_journey_init(struct sim_jstate *js, const struct sim_load_cfg *cfg, uint64_t idx);
/* Fills the request of the current step. Returns 0, or 1 when the journey is over. */
int sim_journey_request(struct sim_jstate *js, const struct sim_load_cfg *cfg, struct sim_jreq *rq);
/* Classifies an answer (curl result as an int, HTTP status, body) and advances the step.
 * Returns the outcome; sets *done when the journey ends. */
enum sim_outcome sim_journey_answer(struct sim_jstate *js, const struct sim_load_cfg *cfg,
				    struct sim_load_stats *st, int curl_code, long status,
				    const char *body, bool *done);
void sim_journey_free(struct sim_jstate *js);

#endif
