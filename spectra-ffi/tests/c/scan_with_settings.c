/* Scans PATH with the scan settings SETTINGS_JSON through the C ABI and prints the report as
 * JSON. Usage: scan_with_settings PATH SETTINGS_JSON. Exit 0 with the report, 1 with the
 * library's error detail on stderr. */
#include <stdio.h>

#include "spectra.h"

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: scan_with_settings PATH SETTINGS_JSON\n");
    return 2;
  }
  spectra_scanner *scanner = NULL;
  spectra_scan_report *report = NULL;
  char *json = NULL;
  int status = 1;
  if (spectra_scanner_new(argv[1], &scanner) == SPECTRA_RESULT_OK &&
      spectra_scanner_set_settings_json(scanner, argv[2]) == SPECTRA_RESULT_OK &&
      spectra_scanner_run(scanner, NULL, NULL, &report) == SPECTRA_RESULT_OK &&
      spectra_scan_report_json(report, &json) == SPECTRA_RESULT_OK) {
    printf("%s\n", json);
    status = 0;
  } else {
    char detail[1024];
    spectra_last_error_detail(detail, sizeof detail, NULL);
    fprintf(stderr, "%s\n", detail);
  }
  spectra_string_free(json);
  spectra_scan_report_free(report);
  spectra_scanner_free(scanner);
  return status;
}
