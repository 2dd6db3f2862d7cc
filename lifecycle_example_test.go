package agentvault_test

import (
	"context"
	"fmt"
	"time"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/kms/localkms"
)

// A rotation with a grace period: the replaced version stays readable as
// "previous" until the grace ends.
func ExampleAgentVault_RotateSecret() {
	ctx := context.Background()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	keys, _ := localkms.New("example", []byte("0123456789abcdef0123456789abcdef"))
	vault, _ := agentvault.New(membackend.New(), keys, agentvault.WithClock(func() time.Time { return now }))
	_, _ = vault.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "prod/api-key", Value: agentvault.StringValue("key-1")})

	next := agentvault.StringValue("key-2")
	res, err := vault.RotateSecret(ctx, "prod/api-key", agentvault.RotateOptions{Value: &next, GracePeriod: 15 * time.Minute})
	if err != nil {
		panic(err)
	}
	fmt.Println("active:", res.Version, "previous:", res.PreviousVersion, "until", res.GraceEndsAt.Format(time.TimeOnly))
	prev, _ := vault.GetSecret(ctx, "prod/api-key", agentvault.AtVersion(agentvault.PreviousVersion))
	fmt.Println("previous value:", prev.Value.Reveal())

	now = now.Add(15 * time.Minute)
	_, err = vault.GetSecret(ctx, "prod/api-key", agentvault.AtVersion(agentvault.PreviousVersion))
	fmt.Println(err)
	// Output:
	// active: v2 previous: v1 until 12:15:00
	// previous value: key-1
	// agentvault: get prod/api-key previous: secret not found: the grace period of previous version v1 ended at 2026-11-26T12:15:00Z
}

// Expiry notices through a Go callback, driven by your own cron.
func ExampleAgentVault_CheckExpirations() {
	ctx := context.Background()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	keys, _ := localkms.New("example", []byte("0123456789abcdef0123456789abcdef"))
	vault, _ := agentvault.New(membackend.New(), keys,
		agentvault.WithClock(func() time.Time { return now }),
		agentvault.WithExpiryNotifier(agentvault.ExpiryNotifierFunc(func(_ context.Context, n agentvault.ExpiryNotice) error {
			fmt.Printf("%s %s (%s)\n", n.Event, n.Path, n.Notice)
			return nil
		})))
	_, _ = vault.CreateSecret(ctx, agentvault.CreateSecretInput{
		Path: "prod/oauth-token", Value: agentvault.StringValue("t"), ExpiresIn: 10 * 24 * time.Hour,
	})
	for day := 0; day <= 10; day++ {
		if _, err := vault.CheckExpirations(ctx); err != nil {
			panic(err)
		}
		now = now.Add(24 * time.Hour)
	}
	// Output:
	// secret.expiring prod/oauth-token (7d)
	// secret.expiring prod/oauth-token (1d)
	// secret.expired prod/oauth-token (expired)
}
