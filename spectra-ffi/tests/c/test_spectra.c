/* Exercises the C ABI end to end: scan (totals, JSON, progress, cancellation), the typed and
 * JSON collectors, diagnostics, policies (parse, plan, enforce, restore), the recorder, and
 * every error path. Usage: test_spectra EMPTY_DIR. Exits non-zero on the first failure. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "spectra.h"

static int failures = 0;

#define CHECK(cond)                                                                   \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      char detail_[512];                                                              \
      spectra_last_error_detail(detail_, sizeof detail_, NULL);                       \
      fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, __LINE__, \
              #cond, detail_);                                                        \
      failures++;                                                                     \
    }                                                                                 \
  } while (0)

static char root[2048];
static uint64_t file_bytes = 0, dir_bytes = 0, file_count = 0, dir_count = 0;

static void join(char *out, size_t len, const char *a, const char *b) { snprintf(out, len, "%s/%s", a, b); }

static void make_dir(const char *path) {
  struct stat st;
  if (mkdir(path, 0755) != 0) { perror(path); exit(2); }
  dir_count++;
  (void)st;
}

static void make_file(const char *path, size_t size) {
  FILE *f = fopen(path, "wb");
  if (!f) { perror(path); exit(2); }
  for (size_t i = 0; i < size; i++) fputc('x', f);
  fclose(f);
  file_bytes += size;
  file_count++;
}

static void build_tree(void) {
  char dir[2200], file[4096];
  dir_count = 1; /* the root */
  for (int d = 0; d < 3; d++) {
    snprintf(dir, sizeof dir, "%s/d%d", root, d);
    make_dir(dir);
    for (int i = 0; i < 10; i++) {
      snprintf(file, sizeof file, "%s/f%d.bin", dir, i);
      make_file(file, (size_t)(i * 100 + 1));
    }
  }
  join(dir, sizeof dir, root, "logs");
  make_dir(dir);
  join(file, sizeof file, dir, "one.log");
  make_file(file, 1000);
  join(file, sizeof file, dir, "two.log");
  make_file(file, 2000);
  /* Directories count their own size in apparent mode, as du --apparent-size does. */
  const char *dirs[] = {"", "/d0", "/d1", "/d2", "/logs"};
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
    struct stat st;
    snprintf(dir, sizeof dir, "%s%s", root, dirs[i]);
    if (stat(dir, &st) != 0) { perror(dir); exit(2); }
    dir_bytes += (uint64_t)st.st_size;
  }
}

static int progress_calls = 0;
static int count_progress(const spectra_progress *progress, void *user_data) {
  int *calls = user_data;
  (*calls)++;
  return progress->entries == 0; /* never true once something was seen: keep going */
}

static int cancel_at_once(const spectra_progress *progress, void *user_data) {
  (void)progress;
  (void)user_data;
  return 1;
}

static void test_scan(void) {
  spectra_scanner *scanner = NULL;
  CHECK(spectra_scanner_new(root, &scanner) == SPECTRA_RESULT_OK);
  CHECK(spectra_scanner_set_apparent_size(scanner, true) == SPECTRA_RESULT_OK);
  CHECK(spectra_scanner_set_top(scanner, 3) == SPECTRA_RESULT_OK);
  spectra_scan_report *report = NULL;
  CHECK(spectra_scanner_run(scanner, count_progress, &progress_calls, &report) == SPECTRA_RESULT_OK);
  spectra_scan_totals totals;
  CHECK(spectra_scan_report_totals(report, &totals) == SPECTRA_RESULT_OK);
  CHECK(totals.files == file_count);
  CHECK(totals.dirs == dir_count);
  CHECK(totals.apparent_bytes == file_bytes + dir_bytes);
  CHECK(!totals.partial && totals.errors == 0);
  CHECK(progress_calls >= 1); /* the final report always reaches the callback */
  char *json = NULL;
  CHECK(spectra_scan_report_json(report, &json) == SPECTRA_RESULT_OK);
  CHECK(json != NULL && strstr(json, "\"largest_files\"") != NULL && strstr(json, "two.log") != NULL);
  spectra_string_free(json);
  spectra_scan_report_free(report);

  /* An exclude that does not parse is an error of the run, with its own code. */
  CHECK(spectra_scanner_add_exclude(scanner, "[unclosed") == SPECTRA_RESULT_OK);
  report = NULL;
  CHECK(spectra_scanner_run(scanner, NULL, NULL, &report) == SPECTRA_RESULT_INVALID_PATTERN);
  CHECK(report == NULL);
  spectra_scanner_free(scanner);

  /* A callback returning non-zero cancels. */
  CHECK(spectra_scanner_new("/usr", &scanner) == SPECTRA_RESULT_OK);
  CHECK(spectra_scanner_set_threads(scanner, 1) == SPECTRA_RESULT_OK);
  CHECK(spectra_scanner_run(scanner, cancel_at_once, NULL, &report) == SPECTRA_RESULT_CANCELLED);
  CHECK(report == NULL);
  spectra_scanner_free(scanner);

  /* A missing root: NOT_FOUND with the path in the detail and the JSON body. */
  CHECK(spectra_scanner_new("/nonexistent/spectra-ffi", &scanner) == SPECTRA_RESULT_OK);
  CHECK(spectra_scanner_run(scanner, NULL, NULL, &report) == SPECTRA_RESULT_NOT_FOUND);
  char detail[512];
  size_t detail_len = 0;
  CHECK(spectra_last_error_detail(detail, sizeof detail, &detail_len) == SPECTRA_RESULT_OK);
  CHECK(strstr(detail, "/nonexistent/spectra-ffi") != NULL && detail_len == strlen(detail));
  CHECK(spectra_last_error_json(&json) == SPECTRA_RESULT_OK);
  CHECK(strstr(json, "\"code\":\"not_found\"") != NULL && strstr(json, "\"number\":2") != NULL);
  spectra_string_free(json);
  spectra_scanner_free(scanner);
}

static void test_errors(void) {
  spectra_scanner *scanner = NULL;
  CHECK(spectra_scanner_new(NULL, &scanner) == SPECTRA_RESULT_NULL_PARAMETER);
  CHECK(spectra_scanner_new(root, NULL) == SPECTRA_RESULT_NULL_PARAMETER);
  CHECK(spectra_scanner_set_top(NULL, 1) == SPECTRA_RESULT_NULL_PARAMETER);
  CHECK(spectra_scanner_run(NULL, NULL, NULL, NULL) == SPECTRA_RESULT_NULL_PARAMETER);
  CHECK(spectra_scan_report_totals(NULL, NULL) == SPECTRA_RESULT_NULL_PARAMETER);
  CHECK(spectra_scanner_new("\xff\xfe", &scanner) == SPECTRA_RESULT_INVALID_INPUT);
  spectra_scanner_free(NULL);
  spectra_scan_report_free(NULL);
  spectra_string_free(NULL);

  char small[8];
  size_t n = 99;
  CHECK(spectra_error_message(SPECTRA_RESULT_NULL_PARAMETER, small, sizeof small, &n) ==
        SPECTRA_RESULT_BUFFER_TOO_SMALL);
  CHECK(n == 7 && small[7] == '\0' && strncmp(small, "a requi", 7) == 0);
  char message[128];
  CHECK(spectra_error_message(SPECTRA_RESULT_UNSUPPORTED, message, sizeof message, &n) == SPECTRA_RESULT_OK);
  CHECK(strcmp(message, "not supported on this system") == 0);
  /* A successful call clears the last error. */
  CHECK(spectra_last_error_detail(message, sizeof message, &n) == SPECTRA_RESULT_OK);
  CHECK(n == 0 && message[0] == '\0');
  CHECK(strlen(spectra_version()) > 0);
}

static void test_collectors(void) {
  spectra_cpu_info cpu;
  CHECK(spectra_cpu(&cpu) == SPECTRA_RESULT_OK);
  CHECK(cpu.core_count == (uint32_t)sysconf(_SC_NPROCESSORS_ONLN));
  CHECK(cpu.usage_percent >= 0.0 && cpu.usage_percent <= 100.0);
  spectra_memory_info memory;
  CHECK(spectra_memory(&memory) == SPECTRA_RESULT_OK);
  CHECK(memory.total == (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE));
  CHECK(memory.available > 0 && memory.available <= memory.total);
  spectra_disk_info disk;
  CHECK(spectra_disk("/", &disk) == SPECTRA_RESULT_OK);
  CHECK(disk.total > 0 && disk.used <= disk.total);
  CHECK(spectra_disk("/not/a/mount/point", &disk) == SPECTRA_RESULT_NOT_FOUND);
  spectra_network_info lo, all;
  CHECK(spectra_network("lo", &lo) == SPECTRA_RESULT_OK);
  CHECK(spectra_network(NULL, &all) == SPECTRA_RESULT_OK);
  CHECK(all.rx_bytes >= lo.rx_bytes);
  CHECK(spectra_network("no-such-nic0", &lo) == SPECTRA_RESULT_NOT_FOUND);
  CHECK(spectra_cpu(NULL) == SPECTRA_RESULT_NULL_PARAMETER);

  char *json = NULL;
  CHECK(spectra_collect_json("processes", 3, &json) == SPECTRA_RESULT_OK);
  CHECK(json != NULL && json[0] == '{');
  spectra_string_free(json);
  CHECK(spectra_collectors_json(&json) == SPECTRA_RESULT_OK);
  CHECK(strstr(json, "\"raspberry_pi\"") != NULL);
  spectra_string_free(json);
  json = NULL;
  /* No wireless card or Raspberry Pi here: unsupported, with the reason. */
  CHECK(spectra_collect_json("raspberry_pi", 0, &json) == SPECTRA_RESULT_UNSUPPORTED);
  CHECK(json == NULL);
  CHECK(spectra_collect_json("no-such-collector", 0, &json) == SPECTRA_RESULT_INVALID_INPUT);

  CHECK(spectra_diagnose_json("{\"kind\": \"tcp_connect\", \"args\": {\"host\": \"127.0.0.1\", \"port\": 1}}", 0, &json) ==
        SPECTRA_RESULT_OK);
  CHECK(strstr(json, "\"connected\":false") != NULL);
  spectra_string_free(json);
  CHECK(spectra_diagnose_json("{\"kind\": \"mounts\"}", 0, &json) == SPECTRA_RESULT_OK);
  spectra_string_free(json);
  CHECK(spectra_diagnose_json("{\"kind\": \"teleport\"}", 0, &json) == SPECTRA_RESULT_INVALID_INPUT);
  CHECK(spectra_diagnose_json("{\"kind\": \"ping\", \"args\": {\"host\": \"127.0.0.1\"}}", -1, &json) ==
        SPECTRA_RESULT_INVALID_INPUT);
}

static void test_policy(const char *state) {
  spectra_policy *policy = NULL;
  CHECK(spectra_policy_parse("name = \"p\"\naction = \"report\"\nrules = [\"size > 1KB\", \"size > 10 parsecs\"]",
                             &policy) == SPECTRA_RESULT_INVALID_RULE);
  CHECK(policy == NULL);
  char *json = NULL;
  CHECK(spectra_last_error_json(&json) == SPECTRA_RESULT_OK);
  CHECK(strstr(json, "\"line\":2") != NULL && strstr(json, "\"column\":11") != NULL);
  spectra_string_free(json);
  char detail[512];
  CHECK(spectra_last_error_detail(detail, sizeof detail, NULL) == SPECTRA_RESULT_OK);
  CHECK(strchr(detail, '^') != NULL);
  CHECK(spectra_policy_parse("name = ", &policy) == SPECTRA_RESULT_INVALID_DATA);

  CHECK(spectra_policy_parse("name = \"logs\"\naction = \"delete\"\nrules = [\"extension == 'log'\"]", &policy) ==
        SPECTRA_RESULT_OK);
  spectra_plan *plan = NULL;
  CHECK(spectra_policy_plan(policy, root, state, &plan) == SPECTRA_RESULT_OK);
  size_t files = 0;
  uint64_t bytes = 0;
  CHECK(spectra_plan_summary(plan, &files, &bytes) == SPECTRA_RESULT_OK);
  CHECK(files == 2 && bytes == 3000);
  char *id = NULL;
  CHECK(spectra_plan_id(plan, &id) == SPECTRA_RESULT_OK);
  CHECK(id != NULL && strlen(id) == 64);
  char path[4300];
  snprintf(path, sizeof path, "%s/logs/one.log", root);
  CHECK(access(path, F_OK) == 0); /* a plan changes nothing */
  CHECK(spectra_enforce(id, state, false, &json) == SPECTRA_RESULT_OK);
  CHECK(strstr(json, "\"quarantined\"") != NULL);
  spectra_string_free(json);
  CHECK(access(path, F_OK) != 0);
  CHECK(spectra_restore(id, state, &json) == SPECTRA_RESULT_OK);
  CHECK(strstr(json, "one.log") != NULL && strstr(json, "two.log") != NULL);
  spectra_string_free(json);
  CHECK(access(path, F_OK) == 0);
  CHECK(spectra_enforce("../../etc/passwd", state, false, &json) == SPECTRA_RESULT_INVALID_INPUT);
  spectra_string_free(id);
  spectra_plan_free(plan);
  spectra_policy_free(policy);
}

static void test_recorder(const char *file) {
  spectra_recorder *recorder = NULL;
  CHECK(spectra_recorder_new(file, &recorder) == SPECTRA_RESULT_OK);
  bool accepted = false;
  for (int i = 0; i < 50; i++) {
    CHECK(spectra_recorder_record(recorder, "read", "/data/x", (uint64_t)i, &accepted) == SPECTRA_RESULT_OK);
    CHECK(accepted);
  }
  CHECK(spectra_recorder_record(recorder, "chmod", "/data/x", 0, &accepted) == SPECTRA_RESULT_INVALID_INPUT);
  CHECK(spectra_recorder_flush(recorder) == SPECTRA_RESULT_OK);
  char *stats = NULL;
  CHECK(spectra_recorder_stats_json(recorder, &stats) == SPECTRA_RESULT_OK);
  CHECK(strstr(stats, "\"written\":50") != NULL);
  spectra_string_free(stats);
  spectra_recorder_free(recorder);
  FILE *f = fopen(file, "r");
  CHECK(f != NULL);
  int lines = 0, c;
  while (f && (c = fgetc(f)) != EOF) lines += c == '\n';
  if (f) fclose(f);
  CHECK(lines == 50);
  CHECK(spectra_recorder_new("/nonexistent/dir/events.jsonl", &recorder) == SPECTRA_RESULT_NOT_FOUND);
}

/* The agent's socket: what the recorder sends is one JSON event per line. (The agent's side is
 * tested against a real agent and server in spectra-cli/tests/governance_cli.rs.) */
static void test_agent_recorder(const char *socket_path) {
  spectra_recorder *recorder = NULL;
  CHECK(spectra_recorder_new_agent(socket_path, &recorder) == SPECTRA_RESULT_NOT_FOUND);
  int listener = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  snprintf(address.sun_path, sizeof address.sun_path, "%s", socket_path);
  CHECK(bind(listener, (struct sockaddr *)&address, sizeof address) == 0);
  CHECK(listen(listener, 1) == 0);
  CHECK(spectra_recorder_new_agent(socket_path, &recorder) == SPECTRA_RESULT_OK);
  bool accepted = false;
  CHECK(spectra_recorder_record_as(recorder, "read", "/data/a.bin", 10, "ana", "s3_training", &accepted) ==
        SPECTRA_RESULT_OK);
  CHECK(accepted);
  CHECK(spectra_recorder_record_as(recorder, "write", "/data/b.bin", 0, NULL, NULL, &accepted) == SPECTRA_RESULT_OK);
  CHECK(spectra_recorder_record_as(recorder, "read", "/data/c", 0, NULL, NULL, NULL) == SPECTRA_RESULT_OK);
  CHECK(spectra_recorder_record_as(recorder, NULL, "/data/c", 0, NULL, NULL, NULL) == SPECTRA_RESULT_NULL_PARAMETER);
  /* Freeing flushes and closes the connection: everything is then in the socket's buffer. */
  spectra_recorder_free(recorder);
  int connection = accept(listener, NULL, NULL);
  CHECK(connection >= 0);
  char received[4096] = {0};
  size_t used = 0;
  ssize_t n;
  while (connection >= 0 && used < sizeof received - 1 &&
         (n = read(connection, received + used, sizeof received - 1 - used)) > 0)
    used += (size_t)n;
  int lines = 0;
  for (size_t i = 0; i < used; i++) lines += received[i] == '\n';
  CHECK(lines == 3);
  CHECK(strstr(received, "\"path\":\"/data/a.bin\"") != NULL);
  CHECK(strstr(received, "\"user\":\"ana\"") != NULL);
  CHECK(strstr(received, "\"backend\":\"s3_training\"") != NULL);
  CHECK(strstr(received, "\"op\":\"write\"") != NULL);
  if (connection >= 0) close(connection);
  close(listener);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s EMPTY_DIR\n", argv[0]);
    return 2;
  }
  char base[1024], state[2048], events[2048], agent_socket[2048];
  snprintf(base, sizeof base, "%s", argv[1]);
  snprintf(root, sizeof root, "%s/tree", base);
  snprintf(state, sizeof state, "%s/state", base);
  snprintf(events, sizeof events, "%s/events.jsonl", base);
  snprintf(agent_socket, sizeof agent_socket, "%s/telemetry.sock", base);
  if (mkdir(root, 0755) != 0) { perror(root); return 2; }
  build_tree();
  test_errors();
  test_scan();
  test_collectors();
  test_policy(state);
  test_recorder(events);
  test_agent_recorder(agent_socket);
  if (failures) {
    fprintf(stderr, "%d checks failed\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
