package agentvault_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/membackend"
)

// TestTimesBeyondStorableRangeRefused: every expiry, TTL, grace period and
// schedule that would end after 2262 (the end of int64 Unix nanoseconds)
// is refused with ErrInvalidInput naming the limit, never stored wrapped
// around into the past.
func TestTimesBeyondStorableRangeRefused(t *testing.T) {
	const forever = time.Duration(math.MaxInt64)
	y2500 := time.Date(2500, 1, 1, 0, 0, 0, 0, time.UTC)
	v, _ := newVault(t, agentvault.WithTokenTTL(time.Hour, forever))
	create(t, v, "app/key", "x")
	val := agentvault.StringValue("y")

	cases := map[string]func() error{
		"CreateSecret ExpiresIn max": func() error {
			_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "app/a", Value: val, ExpiresIn: forever})
			return err
		},
		"CreateSecret ExpiresAt 2500": func() error {
			_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "app/b", Value: val, ExpiresAt: y2500})
			return err
		},
		"UpdateSecret ExpiresIn max": func() error {
			_, err := v.UpdateSecret(ctx, "app/key", agentvault.UpdateSecretInput{ExpiresIn: forever})
			return err
		},
		"UpdateSecret ExpiresAt 2500": func() error {
			_, err := v.UpdateSecret(ctx, "app/key", agentvault.UpdateSecretInput{ExpiresAt: &y2500})
			return err
		},
		"UpdateSecret GracePeriod max": func() error {
			_, err := v.UpdateSecret(ctx, "app/key", agentvault.UpdateSecretInput{Value: &val, GracePeriod: forever})
			return err
		},
		"RotateSecret GracePeriod max": func() error {
			_, err := v.RotateSecret(ctx, "app/key", agentvault.RotateOptions{Value: &val, GracePeriod: forever})
			return err
		},
		"SetRotationSchedule every max": func() error {
			_, err := v.SetRotationSchedule(ctx, "app/key", forever, 0)
			return err
		},
		"SetRotationSchedule grace max": func() error {
			_, err := v.SetRotationSchedule(ctx, "app/key", time.Hour, forever)
			return err
		},
		"RequestToken TTL max": func() error {
			_, err := v.RequestToken(ctx, agentvault.TokenRequest{Scopes: []string{"secrets:read:none/*"}, TTL: forever})
			return err
		},
		"New approval TTL max": func() error {
			p := agentvault.DefaultApprovalPolicy()
			p.TTL = forever
			_, err := agentvault.New(membackend.New(), testKey(t), agentvault.WithApprovalPolicy(p))
			return err
		},
		"New approval delay max": func() error {
			p := agentvault.DefaultApprovalPolicy()
			p.Critical.Delay = forever
			_, err := agentvault.New(membackend.New(), testKey(t), agentvault.WithApprovalPolicy(p))
			return err
		},
		"New lifecycle lease max": func() error {
			_, err := agentvault.New(membackend.New(), testKey(t), agentvault.WithLifecycleLease(forever))
			return err
		},
	}
	for name, call := range cases {
		err := call()
		if assert.ErrorIs(t, err, agentvault.ErrInvalidInput, name) {
			assert.Contains(t, err.Error(), "2262", "%s: the error names the limit", name)
		}
	}

	// Nothing was stored: the secret is neither expired nor rescheduled.
	s := get(t, v, "app/key")
	assert.True(t, s.ExpiresAt.IsZero(), "ExpiresAt = %v", s.ExpiresAt)
	assert.Zero(t, s.RotateEvery)
	assert.Equal(t, "v1", s.Version)

	// The last storable instant itself is accepted and reads back.
	last := time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
	m, err := v.UpdateSecret(ctx, "app/key", agentvault.UpdateSecretInput{ExpiresAt: &last})
	require.NoError(t, err)
	assert.True(t, m.ExpiresAt.Equal(last), "ExpiresAt = %v", m.ExpiresAt)
	_ = get(t, v, "app/key")
}
