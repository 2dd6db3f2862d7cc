package localkms_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/agentvault/agentvault/kms/localkms"
)

// Wrap and unwrap a data key with a Keyring made from key bytes.
func Example() {
	key := make([]byte, localkms.KeySize)
	if _, err := rand.Read(key); err != nil {
		log.Fatal(err)
	}
	kr, err := localkms.New("k1", key)
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	dek := make([]byte, 32)
	if _, err := rand.Read(dek); err != nil {
		log.Fatal(err)
	}
	aad := []byte("vault-1/production/db/password/v1")
	wrapped, err := kr.Encrypt(ctx, dek, aad)
	if err != nil {
		log.Fatal(err)
	}
	unwrapped, err := kr.Decrypt(ctx, wrapped, aad)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(kr.KeyID(), bytes.Equal(dek, unwrapped), len(wrapped))
	fmt.Println(kr) // key ids only, never key bytes
	// Output:
	// k1 true 64
	// localkms.Keyring{primary: k1, keys: [k1]}
}

// Rotate the primary key: ciphertexts made under the old key still open.
func ExampleKeyring_SetPrimary() {
	ctx := context.Background()
	kr, err := localkms.New("k1", make([]byte, localkms.KeySize)) // an all-zero key: for this example only
	if err != nil {
		log.Fatal(err)
	}
	old, err := kr.Encrypt(ctx, []byte("data key"), nil)
	if err != nil {
		log.Fatal(err)
	}

	newKey := make([]byte, localkms.KeySize)
	if _, err := rand.Read(newKey); err != nil {
		log.Fatal(err)
	}
	if err := kr.AddKey("k2", newKey); err != nil {
		log.Fatal(err)
	}
	if err := kr.SetPrimary("k2"); err != nil {
		log.Fatal(err)
	}
	pt, err := kr.Decrypt(ctx, old, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(kr.KeyID(), string(pt))
	fmt.Println(kr)
	// Output:
	// k2 data key
	// localkms.Keyring{primary: k2, keys: [k1 k2]}
}

// Create a key file, load it, and rotate it.
func ExampleGenerateKeyFile() {
	dir, err := os.MkdirTemp("", "localkms-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "key")

	id, err := localkms.GenerateKeyFile(path)
	if err != nil {
		log.Fatal(err)
	}
	newID, err := localkms.RotateKeyFile(path)
	if err != nil {
		log.Fatal(err)
	}
	kr, err := localkms.LoadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Mode().Perm(), kr.KeyID() == newID, len(kr.KeyIDs()), kr.KeyIDs()[0] == id)
	// Output:
	// -rw------- true 2 true
}
