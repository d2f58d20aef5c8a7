package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateDecode = flag.Bool("update-decode", false, "rewrite the decode golden files in testdata/decode")

// TestDecodeGolden runs "mptcp decode" on real and synthetic options and
// compares stdout, stderr and the exit code with testdata/decode/NAME.golden.
func TestDecodeGolden(t *testing.T) {
	cases := []struct {
		name  string
		args  []string
		stdin string
		code  int
	}{
		// The MP_CAPABLE of an iPhone's SYN, 2013 (v0, SHA-1).
		{"iphone-syn", []string{"1e0c00017acdc123cc42a7ec"}, "", exitOK},
		{"iphone-syn-json", []string{"--json", "1e0c00017acdc123cc42a7ec"}, "", exitOK},
		// Separators and flags after the argument.
		{"iphone-syn-colons", []string{"1e:0c:00:01", "7a:cd:c1:23:cc:42:a7:ec", "--version", "v0"}, "", exitOK},
		// Whole TCP options blocks captured from Linux 6.18 (v1): the SYN,
		// the third ACK, ADD_ADDR, and the MP_JOIN exchange.
		{"linux-syn-block", []string{"020405b40402080a9b4ed632000000000103030a1e040101"}, "", exitOK},
		{"linux-mpc-ack", []string{"0101080a9b4ed632d63e127c1e140101242c57b018658b10a8b0213669e295cb"}, "", exitOK},
		{"linux-lines", nil, strings.Join([]string{
			"0101080ad63e127c9b4ed6321e103001c61202022c0054bb4c9e5cfc",
			"0101080a9b4ed632d63e127c1e083101c6120202",
			"020405b40402080a43794716000000000103030a1e0c10017b980801f987526d",
			"020405b40402080afef8a0a6437947160103030a1e1010009475a12dc7e05e8fcb2dd5f7",
			"0101080a43794716fef8a0a61e1810001120db87907667cdb9cb342c1f66a84acaaf535e",
			"0101080a9b4ed632d63e127c1e18200df8597545fa1515ed19d3b3d1000000010014e2af",
		}, "\n"), exitOK},
		{"linux-lines-json", []string{"--json"}, "0101080ad63e127c9b4ed6321e103001c61202022c0054bb4c9e5cfc\n0101080a43794716fef8a0a61e1810001120db87907667cdb9cb342c1f66a84acaaf535e\n", exitOK},
		// One of every other subtype.
		{"other-subtypes", []string{"-"}, strings.Join([]string{
			"1e0640010203",             // REMOVE_ADDR
			"1e0351",                   // MP_PRIO v1
			"1e045003",                 // MP_PRIO v0
			"1e0c60000000000000000102", // MP_FAIL
			"1e0c70000102030405060708", // MP_FASTCLOSE
			"1e048106",                 // MP_TCPRST
			"1e0a3404c61202010050",     // ADD_ADDR v0
			"1e1e300320010db800000000000000000000000101bbaabbccddeeff0011", // ADD_ADDR v1 IPv6
			"1e05f01234", // MP_EXPERIMENTAL
		}, "\n"), exitOK},
		// DSS mappings the summary explains: infinite, a DATA_FIN
		// without data, F without M.
		{"dss-glosses", []string{"-"}, strings.Join([]string{
			"1e0e2004000000640000000a0000",
			"1e1a201f000000000000006400000000000000c8000000000001",
			"1e08201100000064",
		}, "\n"), exitOK},
		{"v1-ack-data-csum", []string{"1e1801810102030405060708a1a2a3a4a5a6a7a80064beef"}, "", exitOK},
		// Errors: exit 1 with a precise message.
		{"err-truncated", []string{"1e0c00017acdc123"}, "", exitFailure},
		{"err-dss-length", []string{"1e0a2001010203040000"}, "", exitFailure},
		{"err-bad-hex", []string{"1e0g"}, "", exitFailure},
		{"err-odd-hex", []string{"1e0"}, "", exitFailure},
		{"err-no-mptcp", []string{"020405b4"}, "", exitFailure},
		{"err-strict-reserved", []string{"--strict", "1e0823e101020304"}, "", exitFailure},
		{"err-partial", []string{"1e08200100000064", "1e0950"}, "", exitFailure},
		{"err-stdin-empty", []string{"-"}, "", exitFailure},
		// A 0x prefix on every argument and on every group.
		{"prefix-per-group", []string{"0x1e0c0001", "0x7acdc123cc42a7ec"}, "", exitOK},
		{"prefix-per-byte", []string{"0x1e 0x0c 0x00 0x01 0x7a 0xcd 0xc1 0x23 0xcc 0x42 0xa7 0xec"}, "", exitOK},
		{"err-prefix-inside", []string{"1e 0c 00x1"}, "", exitFailure},
		// Usage: exit 2; help: exit 0.
		{"usage-no-input", nil, "", exitUsage},
		{"usage-bad-version", []string{"--version", "v9", "1e040101"}, "", exitUsage},
		{"usage-stdin-and-args", []string{"-", "1e040101"}, "", exitUsage},
		{"help", []string{"--help"}, "", exitOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			env := &cmdEnv{stdin: strings.NewReader(tc.stdin), stdout: &stdout, stderr: &stderr}
			args := append([]string{"decode"}, tc.args...)
			if tc.stdin != "" && len(tc.args) == 0 {
				args = append(args, "-")
			} else if tc.stdin != "" && tc.args[len(tc.args)-1] != "-" {
				args = append(args, "-")
			}
			code := run(context.Background(), env, args)
			if code != tc.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			got := "$ mptcp " + strings.Join(args, " ") + "\n--- stdout\n" + stdout.String() + "--- stderr\n" + stderr.String()
			path := filepath.Join("testdata", "decode", tc.name+".golden")
			if *updateDecode {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update-decode to create)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
			}
		})
	}
}

// TestDecodeIPhone checks the facts of the brief's example directly, so a
// golden file regenerated with a bug cannot hide them.
func TestDecodeIPhone(t *testing.T) {
	var stdout, stderr bytes.Buffer
	env := &cmdEnv{stdout: &stdout, stderr: &stderr}
	if code := run(context.Background(), env, []string{"decode", "--json", "1e0c00017acdc123cc42a7ec"}); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var res struct {
		Options []struct {
			Subtype string
			Summary string
			Fields  []struct{ Name, Value, Info string }
			Derived []struct{ Name, Value, Info string }
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Options) != 1 || res.Options[0].Subtype != "MP_CAPABLE" {
		t.Fatalf("options = %+v", res.Options)
	}
	o := res.Options[0]
	vals := map[string]string{}
	for _, f := range append(o.Fields, o.Derived...) {
		vals[f.Name] = f.Value
	}
	want := map[string]string{
		"tcp.options.mptcp.version": "0",
		"tcp.options.mptcp.flags":   "0x01",
		"tcp.options.mptcp.sendkey": "8848941202347829228",
		"mptcp.expected_token":      "1406052502",           // 0x53cea896
		"mptcp.expected_idsn":       "16196866964263969162", // 0xe0c6d4b07736a18a
	}
	for k, v := range want {
		if vals[k] != v {
			t.Errorf("%s = %q, want %q", k, vals[k], v)
		}
	}
	for _, s := range []string{"v0", "HMAC-SHA1, no checksum", "0x7acdc123cc42a7ec", "token 0x53cea896", "IDSN 0xe0c6d4b07736a18a"} {
		if !strings.Contains(o.Summary, s) {
			t.Errorf("summary %q lacks %q", o.Summary, s)
		}
	}
}
