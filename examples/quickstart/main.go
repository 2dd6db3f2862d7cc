// Command quickstart is agentvault's tour on the embedded default: a file
// store and a local key, both in a temporary directory.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/filebackend"
	"github.com/agentvault/agentvault/kms/localkms"
)

func main() {
	if err := run(); err != nil {
		log.Fatalf("quickstart: %v", err)
	}
}

func run() error {
	ctx := agentvault.ContextWithActor(context.Background(), "quickstart")
	dir, err := os.MkdirTemp("", "agentvault-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// 1. A local key-encryption key (0600) and a file store (0700).
	keyPath := filepath.Join(dir, "vault.key")
	keyID, err := localkms.GenerateKeyFile(keyPath)
	if err != nil {
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
	vault, err := agentvault.New(store, keys)
	if err != nil {
		return err
	}
	defer vault.Close()
	fmt.Printf("vault opened in %s (local key %s)\n\n", dir, keyID)

	// 2. Typed, tiered, tagged secrets.
	inputs := []agentvault.CreateSecretInput{
		{
			Path: "production/openai/api-key", Value: agentvault.StringValue("sk-proj-first"),
			Type: agentvault.TypeAPIKey, Tier: agentvault.TierStandard,
			Tags: map[string]string{"service": "openai", "team": "ml-platform"}, ExpiresIn: 90 * 24 * time.Hour,
		},
		{
			Path: "production/postgres/main", Value: agentvault.StringValue("postgresql://app:pw@db:5432/app"),
			Type: agentvault.TypeDBCredential, Tier: agentvault.TierCritical,
			Tags: map[string]string{"service": "postgres", "env": "production"}, Description: "Main production PostgreSQL",
		},
		{
			Path: "production/github/oauth-token", Value: agentvault.StringValue("ghp_example"),
			Type: agentvault.TypeOAuthToken, // tier defaults to sensitive
			Tags: map[string]string{"provider": "github"},
		},
	}
	for _, in := range inputs {
		s, err := vault.CreateSecret(ctx, in)
		if err != nil {
			return err
		}
		fmt.Printf("created %-32s %-14s %-9s %s\n", s.Path, s.Type, s.Tier, s.Version)
	}

	// 3. Update: a new value is a new version; the old one is kept.
	const key = "production/openai/api-key"
	for _, v := range []string{"sk-proj-second", "sk-proj-third"} {
		val := agentvault.StringValue(v)
		m, err := vault.UpdateSecret(ctx, key, agentvault.UpdateSecretInput{Value: &val})
		if err != nil {
			return err
		}
		fmt.Printf("updated %s -> %s\n", key, m.Version)
	}
	s, err := vault.GetSecret(ctx, key)
	if err != nil {
		return err
	}
	fmt.Printf("\nGetSecret(%s) = %s (%s); printed as a struct: %v\n", key, s.Value.Reveal(), s.Version, s.Value)

	// 4. Versions, reading an old one, and rolling back.
	versions, err := vault.ListVersions(ctx, key)
	if err != nil {
		return err
	}
	fmt.Println("\nversions:")
	for _, v := range versions {
		active := ""
		if v.IsActive {
			active = "  <- active"
		}
		fmt.Printf("  %s  created by %s%s\n", v.Version, v.CreatedBy, active)
	}
	old, err := vault.GetSecret(ctx, key, agentvault.AtVersion("v1"))
	if err != nil {
		return err
	}
	fmt.Printf("v1 still reads: %s\n", old.Value.Reveal())
	if _, err := vault.Rollback(ctx, key, "v2"); err != nil {
		return err
	}
	s, err = vault.GetSecret(ctx, key)
	if err != nil {
		return err
	}
	fmt.Printf("after Rollback(v2): active %s = %s\n", s.Version, s.Value.Reveal())
	val := agentvault.StringValue("sk-proj-fourth")
	m, err := vault.UpdateSecret(ctx, key, agentvault.UpdateSecretInput{Value: &val})
	if err != nil {
		return err
	}
	fmt.Printf("the next update is %s (max+1), not v3\n", m.Version)

	// 5. Expiry: kept and listed, but not served.
	if _, err := vault.CreateSecret(ctx, agentvault.CreateSecretInput{
		Path: "staging/deploy/token", Value: agentvault.StringValue("short-lived"),
		Type: agentvault.TypeCustom, Tier: agentvault.TierStandard, ExpiresIn: time.Second,
	}); err != nil {
		return err
	}
	time.Sleep(1100 * time.Millisecond)
	_, err = vault.GetSecret(ctx, "staging/deploy/token")
	fmt.Printf("\nreading an expired secret: %v (errors.Is ErrExpired: %t)\n", err, errors.Is(err, agentvault.ErrExpired))
	in := 30 * 24 * time.Hour
	if _, err := vault.UpdateSecret(ctx, "staging/deploy/token", agentvault.UpdateSecretInput{ExpiresIn: in}); err != nil {
		return err
	}
	if s, err := vault.GetSecret(ctx, "staging/deploy/token"); err == nil {
		fmt.Printf("after extending the expiry it is served again: %s\n", s.Value.Reveal())
	} else {
		return err
	}

	// 6. Listing by tag, never values.
	list, err := vault.ListSecrets(ctx, agentvault.ListFilter{Prefix: "production/", Tags: map[string]string{"service": "postgres"}})
	if err != nil {
		return err
	}
	fmt.Println("\nListSecrets(prefix production/, tag service=postgres):")
	for _, m := range list {
		fmt.Printf("  %s  %s  %s  %q\n", m.Path, m.Type, m.Tier, m.Description)
	}
	all, err := vault.ListSecrets(ctx, agentvault.ListFilter{})
	if err != nil {
		return err
	}
	fmt.Printf("\n%d secrets in the vault; everything above was stored encrypted under %s\n", len(all), filepath.Join(dir, "store"))
	return nil
}
