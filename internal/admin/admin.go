// Package admin is the operator's side of edge-agent: the cloud setup and
// teardown of a fleet of devices, one device or thousands, following the
// SageMaker Edge Manager guide "Create and register fleets, and
// authenticate devices" (IoT thing type and things, SageMaker device fleet
// and device registration, certificates, the fleet policy that allows
// iot:AssumeRoleWithCertificate on the fleet's role alias, the credentials
// endpoint, and the upload of each device's authorization files to S3).
//
// Every operation is idempotent and resumable: each step is recorded in a
// local state folder (0700; files 0600) as soon as it is done, so that a
// re-run after a failure or an interruption finishes the rest without
// duplicates, and a re-run of a finished operation changes nothing.
//
// A fleet is an IoT role alias named SageMakerEdge-<fleet> (the name
// SageMaker gives it), created by SageMaker's CreateDeviceFleet or, without
// SageMaker (Edge Manager was discontinued in April 2024), by admin itself.
// The fleet's settings are recorded as tags on that role alias, so later
// commands need only the fleet name.
//
// Device keys are made by admin (or by the device, with a CSR) and recorded
// before the certificate is asked for, so that a certificate whose answer
// is lost (a crash between the call and the state write) is found again by
// its public key on the next run rather than left behind.
//
// Known limits: thing types are never deleted (they are shared, and IoT
// needs a five-minute deprecation first).
package admin

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"go.uber.org/zap"

	"github.com/edge-agent/edge-agent/internal/awsclient"
	"github.com/edge-agent/edge-agent/internal/awsname"
)

// Options configures an [Admin].
type Options struct {
	// Region, Profile and EndpointURL override the SDK's default chain
	// (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL). The per-service
	// variables AWS_ENDPOINT_URL_IOT, _SAGEMAKER, _S3 and _IAM are honoured
	// by the SDK and win over EndpointURL, so each service can point
	// elsewhere.
	Region, Profile, EndpointURL string
	// StateDir holds the local state: per fleet and device, what is done,
	// and the device keys (0600). Default: $XDG_STATE_HOME/edge-agent/admin
	// or ~/.local/state/edge-agent/admin.
	StateDir string
	// Limits are the client-side call rates; zero fields take
	// [DefaultLimits].
	Limits Limits
	// S3PathStyle forces path-style S3 addressing; it is on anyway when
	// any custom endpoint is configured.
	S3PathStyle bool
	// Logger receives debug and progress logs, and the AWS SDK's own
	// messages at debug level; nil means none.
	Logger *zap.Logger
	// AWSConfig, when set, is used instead of loading the default chain
	// (tests and embedding).
	AWSConfig *aws.Config
}

// Admin provisions and tears down fleets and devices. It is safe for
// concurrent use.
type Admin struct {
	iot    *iot.Client
	sm     *sagemaker.Client
	iam    *iam.Client
	s3     *s3.Client
	lim    serviceLimiters
	region string
	state  *stateStore
	log    *zap.Logger

	// afterCreateCertificate, when set (tests), runs right after
	// CreateCertificateFromCsr answers and before the answer is recorded;
	// an error stops the provision there, as a kill would.
	afterCreateCertificate func(id string) error
}

// New loads the AWS configuration and returns an Admin. It makes no call.
func New(ctx context.Context, o Options) (*Admin, error) {
	if o.Region != "" {
		if err := awsname.ValidateRegion(o.Region); err != nil {
			return nil, fmt.Errorf("--region: %w", err)
		}
	}
	cfg, err := loadAWSConfig(ctx, o)
	if err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("load aws config: no region: pass --region or set AWS_REGION")
	}
	if o.Region == "" && awsname.ValidateRegion(cfg.Region) != nil {
		return nil, fmt.Errorf("region %q (from AWS_REGION or the profile): %s", cfg.Region, awsname.RegionRule)
	}
	dir, err := stateDir(o.StateDir)
	if err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}

	lim := o.Limits.withDefaults().limiters()
	pathStyle := o.S3PathStyle || customEndpoint(o)
	return &Admin{
		iot: iot.NewFromConfig(cfg, func(io *iot.Options) {
			io.APIOptions = append(io.APIOptions, lim.iot.middleware)
		}),
		sm: sagemaker.NewFromConfig(cfg, func(so *sagemaker.Options) {
			so.APIOptions = append(so.APIOptions, lim.sagemaker.middleware)
		}),
		iam: iam.NewFromConfig(cfg, func(io *iam.Options) {
			io.APIOptions = append(io.APIOptions, lim.iam.middleware)
		}),
		s3: s3.NewFromConfig(cfg, func(so *s3.Options) {
			so.UsePathStyle = pathStyle
			so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
			so.APIOptions = append(so.APIOptions, lim.s3.middleware)
		}),
		lim:    lim,
		region: cfg.Region,
		state:  &stateStore{dir: dir},
		log:    log.Named("admin"),
	}, nil
}

// loadAWSConfig resolves the SDK configuration: the standard chain, then
// the explicit region, profile and endpoint.
func loadAWSConfig(ctx context.Context, o Options) (aws.Config, error) {
	if o.AWSConfig != nil {
		cfg := o.AWSConfig.Copy()
		if o.Region != "" {
			cfg.Region = o.Region
		}
		if o.EndpointURL != "" {
			cfg.BaseEndpoint = aws.String(o.EndpointURL)
		}
		cfg.Credentials = awsclient.MarkCredentialErrors(cfg.Credentials)
		return cfg, nil
	}

	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithLogger(awsclient.Logger(o.Logger)),
		awsconfig.WithHTTPClient(awsclient.HTTPClient(awsclient.Timeouts{})),
	}
	if o.Region != "" {
		opts = append(opts, awsconfig.WithRegion(o.Region))
	}
	if o.Profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(o.Profile))
	}
	if o.EndpointURL != "" {
		opts = append(opts, awsconfig.WithBaseEndpoint(o.EndpointURL))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load aws config: %w", err)
	}
	cfg.Credentials = awsclient.MarkCredentialErrors(cfg.Credentials)
	return cfg, nil
}

// customEndpoint reports whether any service may be pointed away from AWS,
// where S3 needs path-style addressing.
func customEndpoint(o Options) bool {
	if o.EndpointURL != "" || (o.AWSConfig != nil && o.AWSConfig.BaseEndpoint != nil) {
		return true
	}
	for _, v := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"} {
		if os.Getenv(v) != "" {
			return true
		}
	}
	return false
}

// stateDir returns dir, or the default state folder.
func stateDir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	if x := os.Getenv("XDG_STATE_HOME"); x != "" {
		return filepath.Join(x, "edge-agent", "admin"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find state folder: %w (pass --state-dir)", err)
	}
	return filepath.Join(home, ".local", "state", "edge-agent", "admin"), nil
}

// Region returns the region the clients call.
func (a *Admin) Region() string { return a.region }
