package gcpkms_test

import (
	"context"
	"log"

	gcpkmsapi "cloud.google.com/go/kms/apiv1"

	"github.com/agentvault/agentvault/kms/gcpkms"
)

// New takes a client the program built, with its own credentials; the
// program closes it. (Not run: it needs Google Cloud.)
func ExampleNew() {
	ctx := context.Background()
	client, err := gcpkmsapi.NewKeyManagementClient(ctx) // Application Default Credentials
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	p, err := gcpkms.New(client, "projects/acme-prod/locations/europe-west2/keyRings/agentvault/cryptoKeys/kek")
	if err != nil {
		log.Fatal(err)
	}
	wrapped, err := p.Encrypt(ctx, make([]byte, 32), []byte("vault/path/version"))
	if err != nil {
		log.Fatal(err) // errors.Is(err, kms.ErrPermission), kms.ErrUnavailable, ...
	}
	_ = wrapped
}

// OpenURL is for command-line flags: it builds, and Close closes, its own
// client. (Not run: it needs Google Cloud.)
func ExampleOpenURL() {
	p, err := gcpkms.OpenURL(context.Background(),
		"gcpkms://projects/acme-prod/locations/europe-west2/keyRings/agentvault/cryptoKeys/kek")
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	_ = p.KeyID()
}
