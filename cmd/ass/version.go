package main

import (
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise the module version from the build information is used.
var version = ""

var versionCommand = &command{
	name:         "version",
	withToken:    true,
	withAgentKey: func([]string) bool { return true },
	summary:      "print the version of ass (also ass --version)",
	details: `Prints "ass VERSION (rev REVISION[, modified], GO)": the module version, the
VCS revision it was built from (modified: with uncommitted changes) and the
Go version, from the build information; "devel" for a version when built
from a checkout, and no rev when built without VCS information.

With --json, prints {"version","revision","modified","go"}.`,
	define: func(*flag.FlagSet) func(*cli, []string) error {
		return func(c *cli, _ []string) error {
			if c.g.json {
				return writeJSON(c.stdout, readBuildVersion())
			}
			_, err := fmt.Fprintf(c.stdout, "ass %s\n", versionString())
			return err
		}
	},
}

// buildVersion is what the binary knows about its own build.
type buildVersion struct {
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	Modified bool   `json:"modified"`
	Go       string `json:"go"`
}

func readBuildVersion() buildVersion {
	bi, _ := debug.ReadBuildInfo()
	return buildVersionOf(bi)
}

// buildVersionOf reads bi (nil when the binary has none): the version set
// with -ldflags, else the module version, else "devel"; the VCS revision
// and whether the tree was modified.
func buildVersionOf(bi *debug.BuildInfo) buildVersion {
	v := buildVersion{Version: version, Go: runtime.Version()}
	if bi != nil {
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = "devel"
	}
	return v
}

// versionString is "v1.2.3 (rev 0123456789ab, modified, go1.26.0)".
func versionString() string { return readBuildVersion().String() }

func (v buildVersion) String() string {
	s := v.Version + " ("
	if v.Revision != "" {
		s += "rev " + v.Revision[:min(12, len(v.Revision))]
		if v.Modified {
			s += ", modified"
		}
		s += ", "
	}
	return s + v.Go + ")"
}
