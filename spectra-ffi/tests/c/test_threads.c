/* Four threads calling the collectors at once, 50 times each: every call succeeds and the
 * answers are consistent. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "spectra.h"

#define THREADS 4
#define ROUNDS 50

static void *work(void *arg) {
  long *failed = arg;
  for (int i = 0; i < ROUNDS; i++) {
    spectra_cpu_info cpu;
    spectra_memory_info memory;
    spectra_network_info network;
    char *json = NULL;
    if (spectra_cpu(&cpu) != SPECTRA_RESULT_OK || cpu.core_count == 0) (*failed)++;
    if (spectra_memory(&memory) != SPECTRA_RESULT_OK || memory.total == 0) (*failed)++;
    if (spectra_network(NULL, &network) != SPECTRA_RESULT_OK) (*failed)++;
    if (spectra_collect_json("disk", 0, &json) != SPECTRA_RESULT_OK || json == NULL || json[0] != '[') (*failed)++;
    spectra_string_free(json);
    /* The last error is per thread: a failure here is not seen by the others. */
    if (spectra_collect_json("no-such-collector", 0, &json) != SPECTRA_RESULT_INVALID_INPUT) (*failed)++;
  }
  return NULL;
}

int main(void) {
  pthread_t threads[THREADS];
  long failed[THREADS];
  memset(failed, 0, sizeof failed);
  for (int t = 0; t < THREADS; t++) pthread_create(&threads[t], NULL, work, &failed[t]);
  long total = 0;
  for (int t = 0; t < THREADS; t++) {
    pthread_join(threads[t], NULL);
    total += failed[t];
  }
  if (total) {
    fprintf(stderr, "%ld calls failed\n", total);
    return 1;
  }
  printf("ok\n");
  return 0;
}
