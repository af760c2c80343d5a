/* svc_resilience.h - deadlines, retries with jitter under a budget, circuit breakers, bulkheads */
#ifndef SVC_RESILIENCE_H
#define SVC_RESILIENCE_H

#endif /* SVC_RESILIENCE_H */
