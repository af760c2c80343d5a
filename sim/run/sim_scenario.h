/* sim_scenario.h - a scenario file (load phases, journey mix, data, fault timeline) parsed and checked */
#ifndef SIM_SCENARIO_H
#define SIM_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_MAX_PHASES 32
#define SIM_MAX_FAULTS 64
#define SIM_NAME_MAX   64

struct sim_phase {
	double at_s;            /* start, seconds from the start of the load */
	double rate;            /* journey arrivals per second from at_s on (0 = idle) */
};

enum sim_fault_kind {
	SIM_FAULT_TOXIC,        /* a sim proxy toxic on `target` from at_s to until_s */
	SIM_FAULT_KILL,         /* SIGKILL `target` at at_s; started again at until_s if given */
	SIM_FAULT_STOP,         /* SIGSTOP `target` at at_s, SIGCONT at until_s */
	SIM_FAULT_RESTART,      /* SIGKILL then `scripts/stack.sh up` at at_s */
	SIM_FAULT_DEPLOY,       /* `scripts/stack.sh deploy target` at at_s; the pid must change */
	/* The HA lab's hosts (SHOPLAB_LAB_CTL, scripts/lab-ha.sh ctl), `target` a host (db2, svc1): */
	SIM_FAULT_HOST_KILL,    /* SIGKILL every process of the host at at_s; started again at until_s */
	SIM_FAULT_PARTITION,    /* the host cut off from the other database hosts, at_s to until_s */
	SIM_FAULT_BROKER_KILL,  /* SIGKILL the broker at at_s, `broker.sh start` + `wait` at until_s */
	SIM_FAULT_CONSUMER_STOP,        /* SIGSTOP the consuming service `target`, SIGCONT at until_s */
	SIM_FAULT_BROKER_PARTITION,     /* proxy `<target>-broker` disabled from at_s to until_s */
	SIM_FAULT_DUPLICATE_DELIVERY,   /* acks of `target` lost (reset_peer toxic upstream on
	                                 * `<target>-broker`): redeliveries, confirmed by the
	                                 * service's duplicates counter */
};

struct sim_fault {
	double at_s;
	double until_s;         /* < 0: none (the drain restores everything) */
	enum sim_fault_kind kind;
	char target[SIM_NAME_MAX];      /* proxy name (toxic), process (kill/stop/restart,
	                                 * "rabbitmq" for broker_kill) or service (the other
	                                 * broker faults) */
	char proxy_api[256];            /* toxic: the proxy API's URL or name ("" = the stack's) */
	char type[SIM_NAME_MAX];        /* toxic type */
	char stream[16];                /* toxic stream: upstream / downstream */
	char name[SIM_NAME_MAX];        /* toxic name given to the proxy: sim-<index> */
	char proxy[SIM_NAME_MAX + 8];   /* broker_partition, duplicate_delivery: <target>-broker */
	double toxicity;
	char *attributes;               /* toxic attributes as JSON text (owned) */
};

/*
 * The steady-state hypothesis (sim/README.md "Steady-state hypothesis"): what "working" means,
 * per journey outside the fault windows, and how soon after the last fault it must hold again.
 * A scenario without one gets the defaults below (stated = false).
 */
#define SIM_HY_DEFAULT_SUCCESS  0.9
#define SIM_HY_DEFAULT_P99_MS   5000.0
#define SIM_HY_DEFAULT_WITHIN_S 30.0
#define SIM_HY_DEFAULT_BAND     0.5

struct sim_hypothesis {
	bool stated;                    /* written in the scenario (else the defaults) */
	bool has[3];                    /* a clause per journey the mix starts (weight > 0) */
	double success[3];              /* least share of journeys ok, 0..1 */
	double p99_ms[3];               /* most p99 latency of a journey, ms */
	double within_s;                /* after the last fault ends, back within the band by then */
	double band;                    /* success and throughput at least (1 - band) x the baseline's */
};

struct sim_scenario {
	char name[SIM_NAME_MAX];
	char file[1024];                /* the path it was loaded from ("" when parsed from text) */
	char *text;                     /* the JSON text (owned), for line numbers of live checks */
	size_t error_offset;            /* after a failed parse: where in the text the error is */
	uint64_t seed;
	double duration_s;
	double drain_s;
	double events_drain_s;          /* after drain_s: at most this long for outboxes to empty and
	                                 * confirmed orders to ship (default 60) */
	double timeout_s;               /* per request; default 10 */
	double replay_share;            /* share of checkouts replayed with the same key; default 0.1 */
	struct sim_phase phases[SIM_MAX_PHASES];
	size_t nphases;
	double mix[3];                  /* weights: browse, register_login, checkout */
	int users;                      /* accounts created (and logged in) before the load */
	int64_t product_lo, product_hi; /* product ids the journeys use */
	int64_t stock;                  /* units set per product before the load; < 0 leaves it */
	double login_rate;              /* logins per second during set-up; default 4 */
	double decline_share;           /* share of checkouts paying with the declined card */
	double insufficient_share;      /* share paying with the insufficient-funds card */
	struct sim_fault faults[SIM_MAX_FAULTS];
	size_t nfaults;
	char description[512];          /* free text ("" when none) */
	struct sim_hypothesis hy;
};

enum sim_journey { SIM_J_BROWSE, SIM_J_REGISTER, SIM_J_CHECKOUT, SIM_J_COUNT };

extern const char *const sim_journey_names[SIM_J_COUNT];
extern const char *const sim_fault_kind_names[];

/* Parses JSON text into sc (zeroed first). On error returns -1 and writes a message naming the
 * field by its JSON path (e.g. "faults[2].until_s: must be greater than at_s") into err. */
int sim_scenario_parse(const char *text, struct sim_scenario *sc, char *err, size_t errsz);
/* Reads and parses a file; errors name the file too. */
int sim_scenario_load(const char *path, struct sim_scenario *sc, char *err, size_t errsz);
/* Where the value at a JSON path ("faults[2].attributes.latency", anything after ": " ignored)
 * starts in text; the deepest part of the path that exists when the rest does not. */
size_t sim_scenario_offset(const char *text, const char *path);
/* The line (from 1) of a byte offset. */
int sim_scenario_line(const char *text, size_t offset);
/* Frees what parse allocated; sc may be parsed again afterwards. */
void sim_scenario_free(struct sim_scenario *sc);
/* The rate at time t (seconds), from the phase list. */
double sim_scenario_rate_at(const struct sim_scenario *sc, double t);

#endif
