// An agent written in Go using Spectra through its C ABI, as the old Go Spectra agent's
// maintainers would: a scan with progress, a collector, and a policy's dry run. Built and run
// by spectra-ffi/tests/go_example.rs against an installed library found with pkg-config.
//
//	go run main.go TREE STATE_DIR
package main

/*
#cgo pkg-config: spectra
#include <stdlib.h>
#include "spectra.h"

extern int goProgress(spectra_progress *progress, void *user_data);

// cgo cannot take the address of an exported Go function as a C function pointer of a
// const-qualified type; this trampoline adapts it.
static int progressTrampoline(const spectra_progress *progress, void *user_data) {
	return goProgress((spectra_progress *)progress, user_data);
}

static spectra_progress_callback progressCallback(void) { return progressTrampoline; }
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime/cgo"
	"unsafe"
)

// progressSeen counts progress calls and keeps the last one.
type progressSeen struct {
	calls   int
	entries uint64
}

//export goProgress
func goProgress(progress *C.spectra_progress, userData unsafe.Pointer) C.int {
	seen := cgo.Handle(uintptr(userData)).Value().(*progressSeen)
	seen.calls++
	seen.entries = uint64(progress.entries)
	return 0
}

// spectraError is the calling thread's last error, as a Go error.
func spectraError(result C.spectra_result) error {
	var detail *C.char
	C.spectra_last_error_json(&detail)
	defer C.spectra_string_free(detail)
	return fmt.Errorf("spectra result %d: %s", int(result), C.GoString(detail))
}

func scan(tree string) (C.spectra_scan_totals, int, error) {
	var totals C.spectra_scan_totals
	path := C.CString(tree)
	defer C.free(unsafe.Pointer(path))
	var scanner *C.spectra_scanner
	if r := C.spectra_scanner_new(path, &scanner); r != C.SPECTRA_RESULT_OK {
		return totals, 0, spectraError(r)
	}
	defer C.spectra_scanner_free(scanner)
	C.spectra_scanner_set_apparent_size(scanner, true)
	seen := &progressSeen{}
	handle := cgo.NewHandle(seen)
	defer handle.Delete()
	var report *C.spectra_scan_report
	// The handle is an integer, not a Go pointer, so passing it through C is allowed.
	if r := C.spectra_scanner_run(scanner, C.progressCallback(), unsafe.Pointer(uintptr(handle)), &report); r != C.SPECTRA_RESULT_OK {
		return totals, 0, spectraError(r)
	}
	defer C.spectra_scan_report_free(report)
	if r := C.spectra_scan_report_totals(report, &totals); r != C.SPECTRA_RESULT_OK {
		return totals, 0, spectraError(r)
	}
	return totals, seen.calls, nil
}

func plan(tree, state string) (uint64, uint64, error) {
	text := C.CString("name = \"logs\"\naction = \"report\"\nrules = [\"extension == 'log'\"]\n")
	defer C.free(unsafe.Pointer(text))
	var policy *C.spectra_policy
	if r := C.spectra_policy_parse(text, &policy); r != C.SPECTRA_RESULT_OK {
		return 0, 0, spectraError(r)
	}
	defer C.spectra_policy_free(policy)
	path, stateDir := C.CString(tree), C.CString(state)
	defer C.free(unsafe.Pointer(path))
	defer C.free(unsafe.Pointer(stateDir))
	var p *C.spectra_plan
	if r := C.spectra_policy_plan(policy, path, stateDir, &p); r != C.SPECTRA_RESULT_OK {
		return 0, 0, spectraError(r)
	}
	defer C.spectra_plan_free(p)
	var files C.size_t
	var bytes C.uint64_t
	if r := C.spectra_plan_summary(p, &files, &bytes); r != C.SPECTRA_RESULT_OK {
		return 0, 0, spectraError(r)
	}
	return uint64(files), uint64(bytes), nil
}

func memory() (map[string]any, error) {
	name := C.CString("memory")
	defer C.free(unsafe.Pointer(name))
	var text *C.char
	if r := C.spectra_collect_json(name, 0, &text); r != C.SPECTRA_RESULT_OK {
		return nil, spectraError(r)
	}
	defer C.spectra_string_free(text)
	var data map[string]any
	err := json.Unmarshal([]byte(C.GoString(text)), &data)
	return data, err
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: main TREE STATE_DIR")
		os.Exit(2)
	}
	totals, calls, err := scan(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	files, bytes, err := plan(os.Args[1], os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mem, err := memory()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, _ := json.Marshal(map[string]any{
		"files":          uint64(totals.files),
		"apparent_bytes": uint64(totals.apparent_bytes),
		"progress_calls": calls,
		"plan_files":     files,
		"plan_bytes":     bytes,
		"memory_total":   mem["total"],
		"version":        C.GoString(C.spectra_version()),
	})
	fmt.Println(string(out))
}
