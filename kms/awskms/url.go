package awskms

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	awssdkkms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go/logging"

	"github.com/agentvault/agentvault/kms"
)

// Scheme is the URL scheme OpenURL accepts.
const Scheme = "awskms"

// WithConfigOptions passes options to config.LoadDefaultConfig when OpenURL
// builds its client, after the ones OpenURL derives from the URL (so they
// win). Tests use it for static credentials. Default: none. New rejects it,
// since it builds no client.
func WithConfigOptions(opts ...func(*config.LoadOptions) error) Option {
	return func(o *options) { o.configOptions = append(o.configOptions, opts...) }
}

// OpenURL builds a KMS client with config.LoadDefaultConfig (the default
// credential chain: environment, shared config and credentials files, SSO,
// web identity, container and instance roles) and returns a Provider using
// it. It is meant for command-line flags such as --kms; programs that already
// have a client should call New.
//
// The URL form is
//
//	awskms://KEY?region=REGION&endpoint=URL&profile=PROFILE
//
// where KEY is a key id, key ARN, alias name ("alias/NAME") or alias ARN, for
// example
//
//	awskms://1234abcd-12ab-34cd-56ef-1234567890ab?region=eu-west-2
//	awskms://arn:aws:kms:eu-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab
//	awskms://alias/agentvault?region=eu-west-2&profile=prod
//	awskms://alias/dev?region=eu-west-2&endpoint=http://127.0.0.1:8080
//
// Every parameter is optional. region defaults to the ARN's region, else to
// the default chain (AWS_REGION, the profile's region). endpoint, an http or
// https URL, replaces the regional endpoint (for a local KMS such as
// local-kms, or a VPC endpoint). profile selects a shared-config profile.
// The form awskms:///KEY (three slashes) is accepted too. Unknown or repeated
// parameters are an error wrapping kms.ErrInvalidInput; error messages never
// repeat the URL.
//
// The SDK's own log lines (such as "WARN falling back to IMDSv1" from the
// instance metadata client) are discarded: a program reports its errors
// itself, and the SDK's default logger writes to the process's stderr.
// Pass WithConfigOptions(config.WithLogger(l)) to receive them.
//
// OpenURL reads configuration files but makes no call to KMS.
func OpenURL(ctx context.Context, rawURL string, opts ...Option) (*Provider, error) {
	keyID, loadOpts, clientOpts, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	loadOpts = append(loadOpts, config.WithLogger(logging.Nop{}))
	loadOpts = append(loadOpts, o.configOptions...)
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("awskms: loading AWS configuration: %w", err)
	}
	return newProvider(awssdkkms.NewFromConfig(cfg, clientOpts...), keyID, &o)
}

// parseURL splits an awskms URL into the key id and the options that build
// its client.
func parseURL(rawURL string) (keyID string, loadOpts []func(*config.LoadOptions) error, clientOpts []func(*awssdkkms.Options), err error) {
	rest, ok := strings.CutPrefix(rawURL, Scheme+"://")
	if !ok {
		return "", nil, nil, fmt.Errorf("awskms: %w: URL must start with %s://", kms.ErrInvalidInput, Scheme)
	}
	if strings.Contains(rest, "#") {
		return "", nil, nil, fmt.Errorf("awskms: %w: URL must not have a fragment", kms.ErrInvalidInput)
	}
	// Not url.Parse: an ARN's colons would be read as host:port.
	keyPart, rawQuery, _ := strings.Cut(rest, "?")
	keyPart = strings.TrimPrefix(keyPart, "/")
	keyID, err = url.PathUnescape(keyPart)
	if err != nil {
		return "", nil, nil, fmt.Errorf("awskms: %w: bad escape in key id", kms.ErrInvalidInput)
	}
	if err := validateKeyID(keyID); err != nil {
		return "", nil, nil, err
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", nil, nil, fmt.Errorf("awskms: %w: bad URL query", kms.ErrInvalidInput)
	}
	region := arnRegion(keyID)
	for name, vals := range q {
		if len(vals) != 1 || vals[0] == "" {
			return "", nil, nil, fmt.Errorf("awskms: %w: URL parameter %q must appear once, with a value", kms.ErrInvalidInput, name)
		}
		v := vals[0]
		switch name {
		case "region":
			if region != "" && region != v {
				return "", nil, nil, fmt.Errorf("awskms: %w: region parameter differs from the key ARN's region", kms.ErrInvalidInput)
			}
			region = v
		case "endpoint":
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
				return "", nil, nil, fmt.Errorf("awskms: %w: endpoint must be an http or https URL without user info", kms.ErrInvalidInput)
			}
			clientOpts = append(clientOpts, func(o *awssdkkms.Options) { o.BaseEndpoint = &v })
		case "profile":
			loadOpts = append(loadOpts, config.WithSharedConfigProfile(v))
		default:
			return "", nil, nil, fmt.Errorf("awskms: %w: unknown URL parameter %q (want region, endpoint or profile)", kms.ErrInvalidInput, name)
		}
	}
	if region != "" {
		loadOpts = append(loadOpts, config.WithRegion(region))
	}
	return keyID, loadOpts, clientOpts, nil
}

// arnRegion returns the region of a KMS key or alias ARN
// (arn:PARTITION:kms:REGION:ACCOUNT:RESOURCE), or "".
func arnRegion(id string) string {
	f := strings.SplitN(id, ":", 6)
	if len(f) == 6 && f[0] == "arn" && f[2] == "kms" {
		return f[3]
	}
	return ""
}
