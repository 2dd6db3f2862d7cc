package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCloudKMSBuildTags: a build without a cloud provider's tag says how
// to get it; a build with it hands the URL to the provider (which, with no
// credentials or endpoint here, fails for its own reason). scripts/test
// runs this package both ways.
func TestCloudKMSBuildTags(t *testing.T) {
	o := &opener{ctx: context.Background()}
	for _, tc := range []struct {
		linked bool
		url    string
		open   func(*opener, target) error
		want   string
	}{
		{awsKMSLinked, "awskms://alias/x?region=eu-west-1&endpoint=http://127.0.0.1:1", func(o *opener, t target) error { _, err := openAWSKMS(o, t); return err },
			"built without AWS KMS support: rebuild with -tags awskms"},
		{gcpKMSLinked, "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k?endpoint=127.0.0.1:1", func(o *opener, t target) error { _, err := openGCPKMS(o, t); return err },
			"built without GCP Cloud KMS support: rebuild with -tags gcpkms"},
	} {
		err := tc.open(o, target{URL: tc.url, Rest: tc.url[len("awskms://"):]})
		if tc.linked {
			if err != nil {
				assert.NotContains(t, err.Error(), "built without", "open(%q)", tc.url)
			}
			continue
		}
		require.Error(t, err, "open(%q) in a build without the provider", tc.url)
		assert.Contains(t, err.Error(), tc.want, "open(%q)", tc.url)
	}
}
