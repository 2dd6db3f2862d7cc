// Command postgres keeps a vault in PostgreSQL: several vault instances —
// standing in for app processes on different machines — share one table,
// and the database's own backups and replicas now cover the vault.
//
//	go run . -url 'postgres://app@127.0.0.1:5432/app?sslmode=disable'   # password via PGPASSWORD
//
// It is its own module (the root module carries no database driver). The
// example uses the table "agentvault_example" and drops its secret at the end.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"sync"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/pgbackend"
	"github.com/agentvault/agentvault/kms/localkms"
)

func main() {
	url := flag.String("url", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL URL (the password may come from PGPASSWORD)")
	flag.Parse()
	if err := run(context.Background(), *url); err != nil {
		log.Fatalf("postgres example: %v", err)
	}
}

func run(ctx context.Context, url string) error {
	// In production every instance loads the same key (a key file, or a
	// cloud KMS); here one throwaway key stands in for it.
	keys, err := localkms.New("example", []byte("example-key-do-not-use-in-prod!!"))
	if err != nil {
		return err
	}
	const instances = 3
	vaults := make([]*agentvault.AgentVault, instances)
	for i := range vaults {
		store, err := pgbackend.Open(ctx, url, pgbackend.WithTable("agentvault_example"))
		if err != nil {
			return err
		}
		defer store.Close()
		v, err := agentvault.New(store, keys, agentvault.WithActor(fmt.Sprintf("app-%d", i)), agentvault.WithAudit(false))
		if err != nil {
			return err
		}
		defer v.Close()
		vaults[i] = v
	}
	fmt.Printf("%d vault instances share the table agentvault_example\n", instances)

	const path = "production/postgres/replica-password"
	_ = vaults[0].DeleteSecret(ctx, path) // a clean start if a previous run was interrupted
	if _, err := vaults[0].CreateSecret(ctx, agentvault.CreateSecretInput{
		Path: path, Value: agentvault.StringValue("initial"), Type: agentvault.TypeDBCredential, Tier: agentvault.TierCritical,
	}); err != nil {
		return err
	}
	defer vaults[0].DeleteSecret(ctx, path)

	// Every instance updates the secret at once: each update is its own
	// version; none is lost.
	var wg sync.WaitGroup
	errs := make(chan error, instances)
	for i, v := range vaults {
		wg.Go(func() {
			for j := 0; j < 5; j++ {
				val := agentvault.StringValue(fmt.Sprintf("pw-app%d-%d", i, j))
				if _, err := v.UpdateSecret(ctx, path, agentvault.UpdateSecretInput{Value: &val}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	versions, err := vaults[1].ListVersions(ctx, path)
	if err != nil {
		return err
	}
	fmt.Printf("%d concurrent updates -> versions v1..%s\n", instances*5, versions[len(versions)-1].Version)
	s, err := vaults[2].GetSecret(ctx, path)
	if err != nil {
		return err
	}
	fmt.Printf("instance 2 reads the active %s (%d bytes)\n", s.Version, s.Value.Len())
	return nil
}
