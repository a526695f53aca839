package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"go.uber.org/zap"

	"github.com/edge-agent/edge-agent/internal/awsclient"
	"github.com/edge-agent/edge-agent/internal/awsname"
)

// defaultS3Region is used when neither --region nor the SDK's environment
// names one; a bucket elsewhere answers with its region, which the error
// then names.
const defaultS3Region = "us-east-1"

// S3Options configures [NewS3Source].
type S3Options struct {
	Bucket string
	// Prefix is the "folder" of the files; a "/" is added when missing.
	Prefix string
	// Region of the bucket; empty means the SDK's (AWS_REGION, profile),
	// then us-east-1.
	Region string
	// EndpointURL replaces the S3 endpoint (path-style addressing), for
	// S3-compatible stores and the sandbox.
	EndpointURL string
	// Credentials replaces the SDK default credential chain when set.
	Credentials aws.CredentialsProvider
	// HTTPClient replaces the SDK's HTTP client when set; Timeouts then
	// only bound the retries.
	HTTPClient *http.Client
	// Timeouts bound each request and its retries; zero fields take
	// [awsclient.DefaultTimeouts].
	Timeouts awsclient.Timeouts
	// Logger receives the SDK's own messages at debug level; nil drops
	// them. They never go to stderr.
	Logger *zap.Logger
}

// S3Source reads the authorization files from s3://Bucket/Prefix with the
// AWS SDK's default credential chain.
type S3Source struct {
	client *s3.Client
	bucket string
	prefix string
	region string
	// endpoint names the S3 endpoint in errors when the failed request
	// does not.
	endpoint string
}

// NewS3Source builds an S3 client from the SDK's default configuration and
// opts.
func NewS3Source(ctx context.Context, opts S3Options) (*S3Source, error) {
	if err := checkS3Options(opts); err != nil {
		return nil, err
	}
	loadOpts := []func(*awsconfig.LoadOptions) error{awsconfig.WithLogger(awsclient.Logger(opts.Logger))}
	if opts.Region != "" {
		loadOpts = append(loadOpts, awsconfig.WithRegion(opts.Region))
	}
	if opts.Credentials != nil {
		loadOpts = append(loadOpts, awsconfig.WithCredentialsProvider(opts.Credentials))
	}
	if opts.HTTPClient != nil {
		loadOpts = append(loadOpts, awsconfig.WithHTTPClient(opts.HTTPClient))
	} else {
		loadOpts = append(loadOpts, awsconfig.WithHTTPClient(awsclient.HTTPClient(opts.Timeouts)))
	}
	loadOpts = append(loadOpts, awsconfig.WithRetryer(awsclient.Retryer(opts.Timeouts)))
	cfg, err := awsconfig.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("s3 source: load AWS SDK configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = defaultS3Region
	}
	var ne *awsname.NameError
	if err := checkRegion(cfg.Region, opts.EndpointURL); errors.As(err, &ne) {
		return nil, fmt.Errorf("s3 source: region %q (from AWS_REGION or the profile): %s", cfg.Region, ne.Rule)
	}
	cfg.Credentials = awsclient.MarkCredentialErrors(cfg.Credentials)

	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		// S3-compatible stores often send no checksum; the SDK would
		// print a line per object on stderr.
		o.DisableLogOutputChecksumValidationSkipped = true
		if opts.EndpointURL != "" {
			o.BaseEndpoint = aws.String(opts.EndpointURL)
			o.UsePathStyle = true
		}
	})
	endpoint := opts.EndpointURL
	if endpoint == "" {
		endpoint = "https://s3." + cfg.Region + ".amazonaws.com"
	}
	return &S3Source{client: client, bucket: opts.Bucket, prefix: cleanPrefix(opts.Prefix), region: cfg.Region,
		endpoint: endpoint}, nil
}

// checkS3Options refuses a bucket or region that S3 would refuse, before
// any call, with the rule.
func checkS3Options(opts S3Options) error {
	if opts.Bucket == "" {
		return errors.New("s3 source: a bucket is required (--bucket)")
	}
	if rest, ok := strings.CutPrefix(opts.Bucket, "s3://"); ok {
		bucket, prefix, _ := strings.Cut(rest, "/")
		if prefix == "" {
			prefix = "P"
		}
		return fmt.Errorf("--bucket %q: give the bucket name only (%s), or use --bucket %s --prefix %s", opts.Bucket, bucket, bucket, prefix)
	}
	if err := awsname.ValidateBucketName(opts.Bucket); err != nil {
		return fmt.Errorf("--bucket: %w", err)
	}
	if opts.Region != "" {
		if err := checkRegion(opts.Region, opts.EndpointURL); err != nil {
			return fmt.Errorf("--region: %w", err)
		}
	}
	return nil
}

// checkRegion checks an AWS region, or with a custom endpoint the looser
// names S3-compatible stores use.
func checkRegion(region, endpointURL string) error {
	if endpointURL != "" {
		return awsname.ValidateCustomRegion(region)
	}
	return awsname.ValidateRegion(region)
}

func cleanPrefix(p string) string {
	p = strings.TrimLeft(p, "/")
	if p != "" && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// Fetch reads s3://bucket/<prefix><name>, at most limit bytes.
func (s *S3Source) Fetch(ctx context.Context, name string, limit int64) ([]byte, error) {
	key := s.prefix + name
	where := "s3://" + s.bucket + "/" + key
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return nil, s.describe(err, where)
	}
	defer out.Body.Close()

	if out.ContentLength != nil && *out.ContentLength > limit {
		return nil, tooLarge(where, *out.ContentLength, limit)
	}
	return readCapped(out.Body, limit, where)
}

// String returns s3://bucket/prefix.
func (s *S3Source) String() string { return "s3://" + s.bucket + "/" + s.prefix }

var expectingRE = regexp.MustCompile(`expecting '([a-z0-9-]+)'`)

// describe turns an S3 error into one that says what to fix.
func (s *S3Source) describe(err error, where string) error {
	if ce, ok := awsclient.AsCredentialsError(err); ok {
		return fmt.Errorf("%s: %w", where, awsclient.CredentialsMessage(ce, " for S3",
			"set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, run on an instance with a role, or use --from-url/--from-dir"))
	}
	if endpoint, cause, ok := awsclient.Unreachable(err, s.endpoint); ok {
		return fmt.Errorf("%s: %w", where, awsclient.UnreachableError(endpoint, cause))
	}
	var api smithy.APIError
	if !errors.As(err, &api) {
		return fmt.Errorf("%s: %w", where, err)
	}
	code := api.ErrorCode()
	switch code {
	case "NoSuchKey", "NotFound":
		return fmt.Errorf("%s: %w (%s): no object %q in bucket %q; check --bucket and --prefix and that the authorization files were uploaded", where, ErrNotFound, code, strings.TrimPrefix(where, "s3://"+s.bucket+"/"), s.bucket)
	case "NoSuchBucket":
		return fmt.Errorf("%s: bucket %q does not exist (NoSuchBucket); check --bucket", where, s.bucket)
	case "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken":
		return fmt.Errorf("%s: %w (%s); the credentials the AWS SDK found (environment, ~/.aws, instance role) need s3:GetObject on arn:aws:s3:::%s", where, ErrAccessDenied, code, strings.TrimPrefix(where, "s3://"))
	case "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException", "MovedPermanently":
		return s.wrongRegion(err, api, where)
	}
	return fmt.Errorf("%s: %w", where, err)
}

func (s *S3Source) wrongRegion(err error, api smithy.APIError, where string) error {
	hint := ""
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		hint = re.Response.Header.Get("X-Amz-Bucket-Region")
	}
	if m := expectingRE.FindStringSubmatch(api.ErrorMessage()); hint == "" && m != nil {
		hint = m[1]
	}
	if hint == "" {
		return fmt.Errorf("%s: bucket %q is not in region %s (%s); pass the bucket's region with --region", where, s.bucket, s.region, api.ErrorCode())
	}
	return fmt.Errorf("%s: bucket %q is in region %s, not %s (%s); pass --region %s", where, s.bucket, hint, s.region, api.ErrorCode(), hint)
}
