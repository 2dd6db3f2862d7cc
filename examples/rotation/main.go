// Command rotation shows agentvault's secret lifecycle with an example
// rotator that issues random API keys: rotation with a check and a grace
// period, a failed rotation that keeps the old key, a rotation schedule run
// by the scheduler, expiry notices, and version retention. It runs on a
// simulated clock, so weeks pass in a moment, and in a temporary directory.
//
//	go run ./examples/rotation
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/filebackend"
	"github.com/agentvault/agentvault/kms/localkms"
)

func main() {
	if err := run(); err != nil {
		log.Fatalf("rotation: %v", err)
	}
}

// apiKeyRotator stands in for a provider's key API: Rotate issues a new
// random key, Verify smoke-tests it (here: checks its shape, or fails on
// demand to show a failed rotation).
type apiKeyRotator struct {
	mu      sync.Mutex
	failing bool
}

func (r *apiKeyRotator) Rotate(_ context.Context, req agentvault.RotationRequest) (agentvault.SecretValue, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return agentvault.SecretValue{}, err
	}
	return agentvault.StringValue("ak_live_" + base64.RawURLEncoding.EncodeToString(b)), nil
}

func (r *apiKeyRotator) Verify(_ context.Context, req agentvault.RotationRequest, next agentvault.SecretValue) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failing {
		return errors.New("provider rejected the new key (401)")
	}
	if !strings.HasPrefix(next.Reveal(), "ak_live_") {
		return errors.New("not an API key")
	}
	return nil
}

func (r *apiKeyRotator) setFailing(f bool) { r.mu.Lock(); r.failing = f; r.mu.Unlock() }

// clock is the simulated time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func (c *clock) since(t0 time.Time) string {
	return "day " + fmt.Sprint(int(c.Now().Sub(t0).Hours()/24))
}

// mask shows the start of a key only.
// mask names a value by a short fingerprint, so the output can tell
// versions apart without printing any part of a key.
func mask(v agentvault.SecretValue) string {
	sum := sha256.Sum256(v.Bytes())
	return "sha256:" + hex.EncodeToString(sum[:4])
}

func run() error {
	ctx := agentvault.ContextWithActor(context.Background(), "rotation-example")
	dir, err := os.MkdirTemp("", "agentvault-rotation-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	keyPath := filepath.Join(dir, "vault.key")
	if _, err := localkms.GenerateKeyFile(keyPath); err != nil {
		return err
	}
	keys, err := localkms.LoadFile(keyPath)
	if err != nil {
		return err
	}
	store, err := filebackend.Open(filepath.Join(dir, "store"))
	if err != nil {
		return err
	}
	defer store.Close()

	clk := &clock{t: time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)}
	t0 := clk.Now()
	rot := &apiKeyRotator{}
	notices := agentvault.ExpiryNotifierFunc(func(_ context.Context, n agentvault.ExpiryNotice) error {
		fmt.Printf("  %s: notice %s %s (%s), expires %s\n", clk.since(t0), n.Event, n.Path, n.Notice, n.ExpiresAt.Format(time.DateOnly))
		return nil
	})
	vault, err := agentvault.New(store, keys,
		agentvault.WithClock(clk.Now),
		agentvault.WithRotator(agentvault.TypeAPIKey, rot),
		agentvault.WithExpiryNotifier(notices),
		agentvault.WithRetention(agentvault.RetentionPolicy{MaxAge: 60 * 24 * time.Hour, MaxVersions: 3}),
	)
	if err != nil {
		return err
	}
	defer vault.Close()
	const path = "production/acme/api-key"

	fmt.Println("1. A secret with a registered rotator (api_key type)")
	first, err := rot.Rotate(ctx, agentvault.RotationRequest{})
	if err != nil {
		return err
	}
	if _, err := vault.CreateSecret(ctx, agentvault.CreateSecretInput{
		Path: path, Value: first, Type: agentvault.TypeAPIKey, Tier: agentvault.TierSensitive,
		ExpiresIn: 80 * 24 * time.Hour,
	}); err != nil {
		return err
	}
	fmt.Printf("  created %s v1 = %s\n\n", path, mask(first))

	fmt.Println("2. Rotate now, with a 15-minute grace period")
	res, err := vault.RotateSecret(ctx, path, agentvault.RotateOptions{GracePeriod: 15 * time.Minute})
	if err != nil {
		return err
	}
	cur, err := vault.GetSecret(ctx, path)
	if err != nil {
		return err
	}
	prev, err := vault.GetSecret(ctx, path, agentvault.AtVersion(agentvault.PreviousVersion))
	if err != nil {
		return err
	}
	fmt.Printf("  active %s = %s; previous %s = %s, readable until %s\n",
		res.Version, mask(cur.Value), prev.Version, mask(prev.Value), res.GraceEndsAt.Format(time.TimeOnly))
	clk.Add(15 * time.Minute)
	_, err = vault.GetSecret(ctx, path, agentvault.AtVersion(agentvault.PreviousVersion))
	fmt.Printf("  15 minutes later, reading previous fails with ErrNotFound: %v\n\n", errors.Is(err, agentvault.ErrNotFound))

	fmt.Println("3. A rotation whose check fails keeps the old key")
	rot.setFailing(true)
	_, err = vault.RotateSecret(ctx, path, agentvault.RotateOptions{})
	fmt.Printf("  RotateSecret: failed=%v\n", errors.Is(err, agentvault.ErrRotationFailed))
	rot.setFailing(false)
	cur, err = vault.GetSecret(ctx, path)
	if err != nil {
		return err
	}
	fmt.Printf("  still active: %s = %s\n\n", cur.Version, mask(cur.Value))

	fmt.Println("4. Rotate every 30 days; a daily scheduler pass rotates, prunes and sends expiry notices")
	if _, err := vault.SetRotationSchedule(ctx, path, 30*24*time.Hour, time.Hour); err != nil {
		return err
	}
	for day := 1; day <= 85; day++ {
		clk.Add(24 * time.Hour)
		rep, err := vault.RunOnce(ctx)
		if err != nil {
			return err
		}
		for _, p := range rep.Rotation.Rotated {
			s, err := vault.GetSecret(ctx, p)
			if err != nil && !errors.Is(err, agentvault.ErrExpired) {
				return err
			}
			if s != nil {
				fmt.Printf("  %s: rotated %s to %s = %s\n", clk.since(t0), p, s.Version, mask(s.Value))
			}
		}
		for _, pr := range rep.Pruned {
			fmt.Printf("  %s: pruned %s %s\n", clk.since(t0), pr.Path, strings.Join(pr.Pruned, ", "))
		}
	}
	fmt.Println()

	fmt.Println("5. Versions")
	vs, err := vault.ListVersions(ctx, path)
	if err != nil {
		return err
	}
	for _, vi := range vs {
		state := "inactive, created " + vi.CreatedAt.Format(time.DateOnly)
		switch {
		case vi.Pruned:
			state = "pruned"
		case vi.IsActive:
			state = "active"
		case vi.IsPrevious:
			state = "previous, grace ended " + vi.GraceEndsAt.Format(time.DateTime)
			if clk.Now().Before(vi.GraceEndsAt) {
				state = "previous, in grace until " + vi.GraceEndsAt.Format(time.DateTime)
			}
		}
		fmt.Printf("  %-4s %s\n", vi.Version, state)
	}
	return nil
}
