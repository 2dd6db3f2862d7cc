package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDoctorRepair: "ass doctor --repair" removes the lifecycle claims a
// deleted secret left behind, lists each, and removes nothing the second
// time; without --repair nothing is removed.
func TestDoctorRepair(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	s := newSandbox(t)
	s.init()
	s.ok("v", "set", "p/soon", "--expires-in", "3d")
	s.ok("v", "set", "p/kept", "--expires-in", "3d")
	s.env["HOOK_SECRET"] = "hook-secret-0123456789abcdef"
	s.ok("", "lifecycle", "run", "--once", "--webhook", srv.URL, "--webhook-secret-env", "HOOK_SECRET")
	s.ok("", "delete", "p/soon")

	out := s.ok("", "doctor")
	assert.NotContains(t, out, "removed", "doctor without --repair removes nothing")

	out = s.ok("", "doctor", "--repair")
	assert.Contains(t, out, "repair: removed 1 orphan")
	require.Contains(t, out, "removed: lifecycle/notice/p/soon/")
	assert.NotContains(t, out, "p/kept", "the live secret's claim stays")

	js := decodeObject(t, s.ok("", "doctor", "--repair", "--json"))
	assert.Nil(t, js["removed"], "nothing left to remove: %v", js["removed"])
	assert.Equal(t, true, js["sound"])
	assert.True(t, strings.Contains(s.ok("", "audit", "--event", "vault.orphans_removed"), "removed 1"), "the repair is audited")
}
