/* sim_check_cli.c - `sim check`: reads the three order-related schemas and checks every invariant */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_check.h"
#include "sim.h"
#include "sim_env.h"

int
sim_check_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since-order", required_argument, NULL, 's' }, { "during-load", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	struct sim_ck_data d;
	struct sim_ck_result r;
	char err[512];
	int c, rc = 2;

	memset(&d, 0, sizeof(d));
	d.after_drain = true;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': d.min_order_id = strtoll(optarg, NULL, 10); break;
		case 'l': d.after_drain = false; break;
		case 'h':
			printf("usage: sim check [--since-order ID] [--during-load]\n"
			       "Checks the invariants over every order (from ID on); --during-load allows\n"
			       "pending orders and held stock. Exit 0 all held, 1 one broke, 2 no database.\n");
			return 0;
		default:
			return 2;
		}
	}
	/* Without a stack's shoplab.env the SHOPLAB_DB_* variables (or the defaults) still say where to look. */
	if (sim_env_load(err, sizeof(err)) != 0)
		fprintf(stderr, "sim check: note: %s; using SHOPLAB_DB_* from the environment or the defaults\n", err);
	if (sim_check_read_db(&d, err, sizeof(err)) != 0 || sim_check_read_events(&d, 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "sim check: %s\n", err);
		goto out;
	}
	if (sim_check_eval(&d, &r) != 0) {
		fprintf(stderr, "sim check: out of memory\n");
		goto out;
	}
	printf("%zu orders, %zu charges, %zu products, %zu reservations\n", d.norders, d.ncharges, d.nstock, d.nresv);
	sim_check_print(&r, stdout);
	rc = r.ok ? 0 : 1;
out:
	sim_check_data_free(&d);
	return rc;
}
