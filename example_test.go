package agentvault_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/kms/localkms"
)

func Example() {
	ctx := context.Background()
	keys, _ := localkms.New("example", []byte("an-example-key-of-32-bytes-long!"))
	vault, err := agentvault.New(membackend.New(), keys, agentvault.WithActor("docs"))
	if err != nil {
		panic(err)
	}
	defer vault.Close()

	_, err = vault.CreateSecret(ctx, agentvault.CreateSecretInput{
		Path:  "production/openai/api-key",
		Value: agentvault.StringValue("sk-proj-one"),
		Type:  agentvault.TypeAPIKey,
		Tier:  agentvault.TierStandard,
	})
	if err != nil {
		panic(err)
	}
	next := agentvault.StringValue("sk-proj-two")
	if _, err := vault.UpdateSecret(ctx, "production/openai/api-key", agentvault.UpdateSecretInput{Value: &next}); err != nil {
		panic(err)
	}

	s, _ := vault.GetSecret(ctx, "production/openai/api-key")
	fmt.Println(s.Version, s.Value, s.Value.Reveal())
	old, _ := vault.GetSecret(ctx, "production/openai/api-key", agentvault.AtVersion("v1"))
	fmt.Println(old.Version, old.Value.Reveal())

	_, err = vault.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "production/openai/api-key", Value: next})
	fmt.Println(errors.Is(err, agentvault.ErrAlreadyExists), err)
	// Output:
	// v2 [REDACTED] sk-proj-two
	// v1 sk-proj-one
	// true agentvault: create production/openai/api-key: secret already exists
}

func ExampleAgentVault_Rollback() {
	ctx := context.Background()
	keys, _ := localkms.New("example", []byte("an-example-key-of-32-bytes-long!"))
	vault, _ := agentvault.New(membackend.New(), keys)
	defer vault.Close()
	vault.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "app/key", Value: agentvault.StringValue("one")})
	two := agentvault.StringValue("two")
	vault.UpdateSecret(ctx, "app/key", agentvault.UpdateSecretInput{Value: &two})

	vault.Rollback(ctx, "app/key", "v1")
	s, _ := vault.GetSecret(ctx, "app/key")
	fmt.Println(s.Version, s.Value.Reveal())
	m, _ := vault.UpdateSecret(ctx, "app/key", agentvault.UpdateSecretInput{Value: &two})
	fmt.Println("next update:", m.Version)
	// Output:
	// v1 one
	// next update: v3
}
