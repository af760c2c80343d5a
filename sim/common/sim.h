/* sim.h - the sim binary's subcommands, each a main of its own */
#ifndef SIM_H
#define SIM_H

int sim_proxy_main(int argc, char **argv);
int sim_load_main(int argc, char **argv);
int sim_check_main(int argc, char **argv);
int sim_run_main(int argc, char **argv);
int sim_scenarios_main(int argc, char **argv);
int sim_toxic_main(int argc, char **argv);

#endif
