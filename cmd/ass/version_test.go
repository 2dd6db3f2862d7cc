package main

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestVersionFromBuildInfo: the module version and VCS revision come from
// the build information (issue 17 item 5).
func TestVersionFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.modified", Value: "true"},
	}}
	v := buildVersionOf(bi)
	assert.Equal(t, buildVersion{Version: "v1.4.0", Revision: "0123456789abcdef0123456789abcdef01234567", Modified: true, Go: runtime.Version()}, v)
	assert.Equal(t, "v1.4.0 (rev 0123456789ab, modified, "+runtime.Version()+")", v.String())

	v = buildVersionOf(&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}})
	assert.Equal(t, "devel ("+runtime.Version()+")", v.String())
	assert.Equal(t, "devel", buildVersionOf(nil).Version)
}

// TestVersionCommand: "ass version", "ass --version" and "ass version
// --json" agree; a bare "ass" prints a short usage (issue 17 item 5).
func TestVersionCommand(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	out := s.ok("", "version")
	assert.Regexp(t, `^ass \S+ \((rev [0-9a-f]+(, modified)?, )?go[^)]+\)\n$`, out)
	assert.Equal(t, out, s.ok("", "--version"))
	j := decodeObject(t, s.ok("", "version", "--json"))
	assert.Equal(t, runtime.Version(), j["go"])
	assert.Contains(t, out, j["version"].(string))

	bare := s.ok("")
	assert.Contains(t, bare, "Usage: ass COMMAND")
	assert.Contains(t, bare, `"ass help COMMAND"`)
	assert.NotContains(t, bare, "Exit codes", "the short usage leaves the tables to ass help")
	assert.NoDirExists(t, s.home)
}
