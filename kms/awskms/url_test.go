package awskms

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssdkkms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/kms"
)

func TestParseURL(t *testing.T) {
	const arn = "arn:aws:kms:eu-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	for _, tc := range []struct {
		url, key, region, endpoint, profile string
	}{
		{url: "awskms://1234abcd-12ab-34cd-56ef-1234567890ab?region=us-east-1", key: "1234abcd-12ab-34cd-56ef-1234567890ab", region: "us-east-1"},
		{url: "awskms://" + arn, key: arn, region: "eu-west-2"},
		{url: "awskms:///" + arn, key: arn, region: "eu-west-2"},
		{url: "awskms://" + arn + "?region=eu-west-2", key: arn, region: "eu-west-2"},
		{url: "awskms://alias/agentvault?region=eu-west-1&profile=prod", key: "alias/agentvault", region: "eu-west-1", profile: "prod"},
		{url: "awskms://alias/dev?endpoint=http://127.0.0.1:8080", key: "alias/dev", endpoint: "http://127.0.0.1:8080"},
		{url: "awskms://alias/dev?endpoint=http%3A%2F%2F127.0.0.1%3A8080%2F", key: "alias/dev", endpoint: "http://127.0.0.1:8080/"},
		{url: "awskms://arn:aws:kms:us-east-1:111122223333:alias/x", key: "arn:aws:kms:us-east-1:111122223333:alias/x", region: "us-east-1"},
		{url: "awskms://alias/with%2Fslash", key: "alias/with/slash"},
	} {
		key, loadOpts, clientOpts, err := parseURL(tc.url)
		require.NoError(t, err, "parseURL(%q)", tc.url)
		assert.Equal(t, tc.key, key, "parseURL(%q) key", tc.url)
		var lo config.LoadOptions
		for _, f := range loadOpts {
			require.NoError(t, f(&lo))
		}
		assert.Equal(t, tc.region, lo.Region, "parseURL(%q) region", tc.url)
		assert.Equal(t, tc.profile, lo.SharedConfigProfile, "parseURL(%q) profile", tc.url)
		var co awssdkkms.Options
		for _, f := range clientOpts {
			f(&co)
		}
		assert.Equal(t, tc.endpoint, aws.ToString(co.BaseEndpoint), "parseURL(%q) endpoint", tc.url)
	}
}

func TestParseURLErrors(t *testing.T) {
	const secretish = "AKIAEXAMPLESECRET"
	for _, u := range []string{
		"",
		"awskms://",
		"awskms:///",
		"gcpkms://projects/p",
		"AWSKMS://alias/x",
		"awskms://alias/x?region=",
		"awskms://alias/x?region=a&region=b",
		"awskms://alias/x?colour=blue",
		"awskms://alias/x#frag",
		"awskms://alias/x?endpoint=ftp://host",
		"awskms://alias/x?endpoint=127.0.0.1:8080",
		"awskms://alias/x?endpoint=https://" + secretish + ":pw@host",
		"awskms://alias/a b",
		"awskms://alias/%zz",
		"awskms://alias/x?%zz",
		"awskms://arn:aws:kms:eu-west-2:111122223333:key/k?region=us-east-1",
	} {
		_, _, _, err := parseURL(u)
		assert.ErrorIs(t, err, kms.ErrInvalidInput, "parseURL(%q)", u)
		if err != nil {
			assert.NotContains(t, err.Error(), secretish, "error repeats the URL")
		}
	}
}

func TestOpenURL(t *testing.T) {
	s := startLocalKMS(t)
	key := s.CreateKey(t)
	creds := WithConfigOptions(
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDLOCALKMSTEST", "x", "")),
		// Keep the test away from the machine's AWS files and instance role.
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
	)
	ctx := context.Background()
	p, err := OpenURL(ctx, "awskms://"+key+"?endpoint="+s.Endpoint, creds)
	require.NoError(t, err, "OpenURL")
	assert.Equal(t, key, p.KeyID())
	pt := randBytes(t, 32)
	ct, err := p.Encrypt(ctx, pt, []byte("aad"))
	require.NoError(t, err, "Encrypt through an OpenURL provider")

	// A provider from New with the test client opens it: same key, same
	// context.
	got, err := mustNew(t, s.Client, key).Decrypt(ctx, ct, []byte("aad"))
	require.NoError(t, err, "Decrypt")
	assert.Equal(t, pt, got)

	// Options for the provider pass through.
	p2, err := OpenURL(ctx, "awskms://"+s.CreateKey(t)+"?endpoint="+s.Endpoint, creds, WithDecryptKeys(key))
	require.NoError(t, err, "OpenURL with WithDecryptKeys")
	got, err = p2.Decrypt(ctx, ct, []byte("aad"))
	require.NoError(t, err, "Decrypt(old-key ciphertext) through OpenURL with WithDecryptKeys")
	assert.Equal(t, pt, got)

	_, err = OpenURL(ctx, "awskms://alias/x?bogus=1", creds)
	assert.ErrorIs(t, err, kms.ErrInvalidInput)
	_, err = OpenURL(ctx, "awskms://alias/x", creds, WithDecryptKeys("alias/x"))
	assert.ErrorIs(t, err, kms.ErrInvalidInput, "OpenURL with a duplicate key")
}

func TestArnRegion(t *testing.T) {
	assert.Equal(t, "eu-west-2", arnRegion("arn:aws:kms:eu-west-2:111122223333:key/k"))
	assert.Equal(t, "cn-north-1", arnRegion("arn:aws-cn:kms:cn-north-1:111122223333:alias/a"))
	assert.Equal(t, "", arnRegion("alias/a"))
	assert.Equal(t, "", arnRegion("arn:aws:s3:::bucket"))
	assert.False(t, strings.Contains(arnRegion("1234"), ":"))
}
