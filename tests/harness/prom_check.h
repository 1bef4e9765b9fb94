/* Scraping a Prometheus endpoint in a test: GET the page over a real socket, check the
 * status and the exposition format's Content-Type, and lint the text with Prometheus's own
 * `promtool check metrics` (Debian package prometheus, installed by scripts/install-deps),
 * so every scrape a test makes is one a Prometheus server would accept. */
#ifndef AERIE_TESTS_HARNESS_PROM_CHECK_H
#define AERIE_TESTS_HARNESS_PROM_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/* Runs promtool on text. Returns 0, or -1 with promtool's complaint (or why it could not
 * run) in why. */
int ah_promtool_check(const char *text, char *why, size_t cap);

/* GET http://127.0.0.1:port/metrics; fails the case unless the answer is 200 with Content-Type
 * "text/plain; version=0.0.4..." and passes promtool. Returns the body (caller frees). */
char *ah_prom_scrape(int port);

/* The value of the sample `series`, written exactly as in the text ("aerie_leaf_connections"
 * or "aerie_uplink_state{state=\"connected\"}"); NAN when there is no such sample. */
double ah_prom_value(const char *text, const char *series);

/* Polls the endpoint until `series` satisfies want(value) or timeout_ms (scaled) passes;
 * returns the last value seen (NAN if never present). Each scrape is checked as above. */
double ah_prom_wait(int port, const char *series, bool (*want)(double), int timeout_ms);

#endif
