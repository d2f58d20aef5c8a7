package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"-run", "("}, {"-run", "^nothing$"}, {"-dut", "bsd"}, {"extra"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"-h"}, &out, &errb); code != 0 || !strings.Contains(errb.String(), "Usage:") {
		t.Errorf("-h: exit %d, output %q", code, errb.String())
	}
}

func TestTableAndJSON(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-dut", "ours", "-run", "^tcp/closed-port-syn$", "-o", "-", "-q"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "| `closed-port-syn` |  | pass |  | pass |") {
		t.Errorf("table:\n%s", out.String())
	}
	out.Reset()
	if code := run([]string{"-dut", "ours", "-run", "^tcp/closed-port-syn$", "-json", "-q"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d JSON lines, want 2: %s", len(lines), out.String())
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &r); err != nil || r["outcome"] != "pass" || r["dut"] != "ours" {
		t.Errorf("JSON %s: %v", lines[0], err)
	}
}
