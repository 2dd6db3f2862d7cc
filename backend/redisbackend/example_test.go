package redisbackend_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/agentvault/agentvault/backend/redisbackend"
)

// New with the caller's Cluster client: the Backend never closes it.
func ExampleNew() {
	client := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                 []string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"},
		Password:              os.Getenv("REDIS_PASSWORD"),
		ContextTimeoutEnabled: true, // let context deadlines bound socket reads
	})
	defer client.Close()

	b, err := redisbackend.New(client, redisbackend.WithPrefix("prod-vault"))
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	rev, err := b.Put(context.Background(), "s/prod/db", []byte("sealed bytes"), 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored at revision", rev)
}

// Open with each URL form; the Backend closes the client Open created.
func ExampleOpen() {
	for _, url := range []string{
		"redis://:" + os.Getenv("REDIS_PASSWORD") + "@127.0.0.1:6379/0",
		"rediss://vault:" + os.Getenv("REDIS_PASSWORD") + "@redis.example.com:6380/2?dial_timeout=2s",
		"redis+cluster://10.0.0.1:7000?addr=10.0.0.2:7000&addr=10.0.0.3:7000",
		"redis+sentinel://10.0.0.1:26379/0?master=mymaster&addr=10.0.0.2:26379",
	} {
		b, err := redisbackend.Open(url)
		if err != nil {
			log.Print(err) // never contains the password
			continue
		}
		fmt.Println(b) // redisbackend(redis 127.0.0.1:6379 db 0, prefix "agentvault")
		b.Close()
	}
}
