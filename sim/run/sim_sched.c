/* sim_sched.c - exact open-loop arrival times per phase */
#include "sim_sched.h"

static void
sim_sched_settle(struct sim_sched *s)
{
	while (s->phase < s->nphases) {
		const struct sim_phase *p = &s->phases[s->phase];
		int64_t start = (int64_t)(p->at_s * 1e9 + 0.5);
		int64_t stop = s->phase + 1 < s->nphases ? (int64_t)(s->phases[s->phase + 1].at_s * 1e9 + 0.5)
							 : s->end_ns;
		int64_t t;

		if (stop > s->end_ns)
			stop = s->end_ns;
		if (p->rate > 0) {
			t = start + (int64_t)((double)s->k * 1e9 / p->rate + 0.5);
			if (t < stop) {
				s->next_ns = t;
				return;
			}
		}
		s->phase++;
		s->k = 0;
	}
	s->next_ns = -1;
}

void
sim_sched_init(struct sim_sched *s, const struct sim_phase *phases, size_t n, double duration_s)
{
	s->phases = phases;
	s->nphases = n;
	s->end_ns = (int64_t)(duration_s * 1e9 + 0.5);
	s->phase = 0;
	s->k = 0;
	s->issued = 0;
	sim_sched_settle(s);
}

int64_t
sim_sched_peek(const struct sim_sched *s)
{
	return s->next_ns;
}

size_t
sim_sched_due(struct sim_sched *s, int64_t now_ns, int64_t *out, size_t max)
{
	size_t n = 0;

	while (n < max && s->next_ns >= 0 && s->next_ns <= now_ns) {
		out[n++] = s->next_ns;
		s->k++;
		s->issued++;
		sim_sched_settle(s);
	}
	return n;
}
