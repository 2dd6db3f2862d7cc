package awskms_test

import (
	"context"
	"log"

	"github.com/aws/aws-sdk-go-v2/config"
	awssdkkms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/agentvault/agentvault/kms/awskms"
)

// New takes a client the program built, with its own credentials, region and
// retry policy. (Not run: it needs AWS.)
func ExampleNew() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("eu-west-2"))
	if err != nil {
		log.Fatal(err)
	}
	p, err := awskms.New(awssdkkms.NewFromConfig(cfg),
		"arn:aws:kms:eu-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
	if err != nil {
		log.Fatal(err)
	}
	wrapped, err := p.Encrypt(ctx, make([]byte, 32), []byte("vault/path/version"))
	if err != nil {
		log.Fatal(err) // errors.Is(err, kms.ErrPermission), kms.ErrUnavailable, ...
	}
	_ = wrapped
}

// After moving to a new KMS key, list the old one so that data keys wrapped
// under it keep opening until a rewrap moves them. (Not run: it needs AWS.)
func ExampleWithDecryptKeys() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	p, err := awskms.New(awssdkkms.NewFromConfig(cfg), "alias/agentvault-2026",
		awskms.WithDecryptKeys("alias/agentvault-2025"))
	if err != nil {
		log.Fatal(err)
	}
	_ = p
}

// OpenURL is for command-line flags: it builds the client with the default
// credential chain. (Not run: it needs AWS.)
func ExampleOpenURL() {
	p, err := awskms.OpenURL(context.Background(), "awskms://alias/agentvault?region=eu-west-2")
	if err != nil {
		log.Fatal(err)
	}
	_ = p.KeyID() // "alias/agentvault"
}
