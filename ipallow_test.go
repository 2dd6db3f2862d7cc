package agentvault_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
)

// TestIPAllowlistTable: which client addresses a token allowlist admits.
// IPv4-mapped IPv6 clients match IPv4 entries (and mapped entries match
// IPv4 clients); a zoned client address matches nothing.
func TestIPAllowlistTable(t *testing.T) {
	v, _ := newVault(t)
	createTier(t, v, "app/key", "x", agentvault.TierStandard)
	for _, tc := range []struct {
		entry, client string
		want          bool
	}{
		{"10.0.1.50", "10.0.1.50", true},
		{"10.0.1.50", "10.0.1.51", false},
		{"10.0.1.50", "::ffff:10.0.1.50", true},
		{"10.0.0.0/8", "::ffff:10.200.0.1", true},
		{"10.0.0.0/8", "::ffff:11.0.0.1", false},
		{"::ffff:10.0.1.50", "10.0.1.50", true},
		{"::ffff:10.0.0.0/104", "10.9.9.9", true},
		{"::ffff:10.0.0.0/104", "11.9.9.9", false},
		{"2001:db8::/32", "2001:db8::1", true},
		{"2001:db8::/32", "2001:db9::1", false},
		{"fe80::1", "fe80::1", true},
		{"fe80::1", "fe80::1%eth0", false},
		{"fe80::/10", "fe80::1%eth1", false},
		{"::/0", "10.0.0.1", false},
		{"0.0.0.0/0", "::ffff:1.2.3.4", true},
	} {
		tok := requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}, AllowedIPs: []string{tc.entry}})
		c := agentvault.ContextWithClientIP(ctx, netip.MustParseAddr(tc.client))
		_, err := v.Session(tok.Value.Reveal()).GetSecret(c, "app/key")
		if tc.want {
			assert.NoError(t, err, "allowlist %q, client %s: GetSecret", tc.entry, tc.client)
		} else {
			assert.ErrorIs(t, err, agentvault.ErrIPDenied, "allowlist %q, client %s: GetSecret", tc.entry, tc.client)
		}
	}
}

// TestIPAllowlistRejectsZones: a zoned entry would lose its zone and admit
// the address from every interface, so tokens and agents refuse it.
func TestIPAllowlistRejectsZones(t *testing.T) {
	v, _ := newVault(t)
	for _, bad := range []string{"fe80::1%eth0", "fe80::1%25eth0", "fe80::%eth0/64", "10.0.0.300"} {
		_, err := v.RequestToken(ctx, agentvault.TokenRequest{Scopes: []string{"secrets:read:*"}, AllowedIPs: []string{bad}})
		assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "RequestToken AllowedIPs %q", bad)
		_, _, err = v.CreateAgent(ctx, agentvault.CreateAgentInput{Name: "a", Scopes: []string{"secrets:read:*"}, AllowedIPs: []string{bad}})
		assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "CreateAgent AllowedIPs %q", bad)
	}
	_, err := v.RequestToken(ctx, agentvault.TokenRequest{Scopes: []string{"secrets:read:*"}, AllowedIPs: []string{"fe80::1%eth0"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "zone")

	// An agent whose policy is a mapped IPv4 range admits IPv4 clients, and
	// its tokens inherit the IPv4 form.
	ag, key, err := v.CreateAgent(ctx, agentvault.CreateAgentInput{Name: "m", Scopes: []string{"secrets:read:*"}, AllowedIPs: []string{"::ffff:10.0.0.0/104"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"10.0.0.0/8"}, ag.AllowedIPs)
	c := agentvault.ContextWithClientIP(agentvault.ContextWithAgentKey(ctx, key.Reveal()), netip.MustParseAddr("::ffff:10.1.1.1"))
	tok, err := v.RequestToken(c, agentvault.TokenRequest{Scopes: []string{"secrets:read:*"}, AllowedIPs: []string{"10.1.0.0/16"}})
	require.NoError(t, err, "mapped client inside the agent's IPv4 policy")
	assert.Equal(t, []string{"10.1.0.0/16"}, tok.AllowedIPs)
}
