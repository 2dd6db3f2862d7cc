// Command redis shows several vault instances — standing in for app
// processes on different machines — sharing one vault through Redis.
//
//	redis-server --port 6390 --save "" &           # any Redis 5+ (or Cluster, or Sentinel)
//	go run ./examples/redis -url redis://127.0.0.1:6390/0
//
// Cluster: -url 'redis+cluster://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002'.
// The example keeps its data under the key prefix "agentvault-example" and
// deletes it at the end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"strings"
	"sync"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/redisbackend"
	"github.com/agentvault/agentvault/kms/localkms"
)

func main() {
	url := flag.String("url", "redis://127.0.0.1:6379/0", "Redis URL (redis://, rediss://, redis+cluster://, redis+sentinel://)")
	flag.Parse()
	if err := run(*url); err != nil {
		log.Fatalf("redis example: %v", err)
	}
}

func run(url string) error {
	ctx := context.Background()
	// In production every instance loads the same key (a key file, or a
	// cloud KMS); here one throwaway key stands in for it.
	keys, err := localkms.New("example", []byte("example-key-do-not-use-in-prod!!"))
	if err != nil {
		return err
	}

	// Three instances, each with its own connection, as separate processes would have.
	const instances = 3
	vaults := make([]*agentvault.AgentVault, instances)
	for i := range vaults {
		store, err := redisbackend.Open(url, redisbackend.WithPrefix("agentvault-example"))
		if err != nil {
			return fmt.Errorf("%w\n(start a server with: redis-server --port 6390 --save \"\" and pass -url redis://127.0.0.1:6390/0)", err)
		}
		defer store.Close()
		v, err := agentvault.New(store, keys, agentvault.WithActor(fmt.Sprintf("app-%d", i)), agentvault.WithAudit(false))
		if err != nil {
			return err
		}
		defer v.Close()
		vaults[i] = v
	}
	fmt.Printf("%d vault instances share %s\n", instances, url)

	const path = "production/stripe/secret-key"
	_ = vaults[0].DeleteSecret(ctx, path) // a clean start if a previous run was interrupted
	if _, err := vaults[0].CreateSecret(ctx, agentvault.CreateSecretInput{
		Path: path, Value: agentvault.StringValue("sk_live_initial"),
		Type: agentvault.TypePaymentCredential, Tier: agentvault.TierCritical,
	}); err != nil && !errors.Is(err, agentvault.ErrAlreadyExists) {
		return err
	}
	defer vaults[0].DeleteSecret(ctx, path)

	// Every instance updates the same secret at once: each update gets its
	// own version number; none is lost.
	var wg sync.WaitGroup
	errs := make(chan error, instances*10)
	for i, v := range vaults {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 10; j++ {
				val := agentvault.StringValue(fmt.Sprintf("sk_live_app%d_%d", i, j))
				if _, err := v.UpdateSecret(ctx, path, agentvault.UpdateSecretInput{Value: &val}); err != nil {
					errs <- err
				}
			}
		}()
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
	fmt.Printf("%d concurrent updates from %d instances -> versions v1..%s (%d versions)\n",
		instances*10, instances, versions[len(versions)-1].Version, len(versions))

	// What one instance wrote, every other one reads.
	s, err := vaults[2].GetSecret(ctx, path)
	if err != nil {
		return err
	}
	fmt.Printf("instance 2 reads the active %s, written by %s\n", s.Version, writerOf(versions, s.Version))
	list, err := vaults[2].ListSecrets(ctx, agentvault.ListFilter{Prefix: "production/"})
	if err != nil {
		return err
	}
	for _, m := range list {
		fmt.Printf("listed: %s (%s, %s)\n", m.Path, m.Type, m.Tier)
	}
	return nil
}

func writerOf(vs []agentvault.VersionInfo, version string) string {
	for _, v := range vs {
		if v.Version == version {
			return strings.TrimSpace(v.CreatedBy)
		}
	}
	return "?"
}
