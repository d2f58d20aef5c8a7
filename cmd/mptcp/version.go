package main

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/mptcp-go/mptcp/analyze/report"
)

// toolVersion describes this build: the module version (or "devel"),
// the commit it was built from when known (with "+dirty" for local
// changes) and the Go version.
func toolVersion() string {
	v := "devel"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if mv := bi.Main.Version; mv != "" && mv != "(devel)" {
		v = mv
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		v += " " + rev + dirty
	}
	return v + " " + bi.GoVersion
}

// tool is what JSON output names as its writer.
func tool() report.Tool { return report.Tool{Name: "mptcp", Version: toolVersion()} }

// runVersion implements "mptcp version" and "mptcp --version".
func runVersion(_ context.Context, env *cmdEnv, args []string) int {
	fs := newFlagSet(env, "version", "[--json]", "Print the version of this build: module version or devel, commit, Go version.")
	asJSON := fs.Bool("json", false, "print {\"name\", \"version\", \"schema_version\"} as JSON")
	if _, code, done := parseFlagsN(fs, env, args, 0, 0, "takes no arguments"); done {
		return code
	}
	if *asJSON {
		fmt.Fprintf(env.stdout, "{\"name\":\"mptcp\",\"version\":%q,\"schema_version\":%d}\n", toolVersion(), report.SchemaVersion)
		return exitOK
	}
	fmt.Fprintf(env.stdout, "mptcp %s (JSON schema version %d)\n", toolVersion(), report.SchemaVersion)
	return exitOK
}
