package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"go.uber.org/zap"
)

// AdminAccessKeyID and AdminSecretAccessKey are the operator's long-term
// credentials in the sandbox: [Sandbox.S3Client] signs with them and
// edge-sandbox publishes them for the admin command. Until S3 and the
// control plane check signatures (issue 5), any credentials are accepted.
const (
	AdminAccessKeyID     = "AKIASANDBOXEXAMPLE00"
	AdminSecretAccessKey = "sandbox-secret-access-key-not-a-secret"
)

// s3Middleware wraps the S3 handler; see registerS3Middleware.
type s3Middleware func(sb *Sandbox, next http.Handler) http.Handler

var (
	s3MiddlewaresMu sync.Mutex
	s3Middlewares   []s3Middleware
)

// registerS3Middleware makes [Start] wrap the gofakes3 handler with mw (for
// example a SigV4 check against [Sandbox.Issued]). Files of this package
// call it from init; the first registered is the outermost.
func registerS3Middleware(mw s3Middleware) {
	s3MiddlewaresMu.Lock()
	defer s3MiddlewaresMu.Unlock()
	s3Middlewares = append(s3Middlewares, mw)
}

func (sb *Sandbox) s3Handler(log *zap.Logger) http.Handler {
	faker := gofakes3.New(sb.s3Backend, gofakes3.WithLogger(zapS3Log{log}))
	h := faker.Server()

	s3MiddlewaresMu.Lock()
	defer s3MiddlewaresMu.Unlock()
	for i := len(s3Middlewares) - 1; i >= 0; i-- {
		h = s3Middlewares[i](sb, h)
	}
	return h
}

// zapS3Log sends gofakes3's log lines to zap at debug level (errors at warn).
type zapS3Log struct{ log *zap.Logger }

func (l zapS3Log) Print(level gofakes3.LogLevel, v ...any) {
	msg := strings.TrimSpace(fmt.Sprint(v...))
	if level == gofakes3.LogErr {
		l.log.Warn("gofakes3", zap.String("detail", msg))
		return
	}
	l.log.Debug("gofakes3", zap.String("level", string(level)), zap.String("detail", msg))
}

// CreateBucket creates bucket in the sandbox S3; an existing bucket is kept.
func (sb *Sandbox) CreateBucket(ctx context.Context, bucket string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := sb.s3Backend.CreateBucket(bucket)
	if err != nil && !gofakes3.HasErrorCode(err, gofakes3.ErrBucketAlreadyExists) {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	return nil
}

// PutObject stores body as s3://bucket/key, straight into the backend (no
// HTTP, no signature), so it works whatever S3 checks.
func (sb *Sandbox) PutObject(ctx context.Context, bucket, key string, body []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	meta := map[string]string{"Content-Type": "application/octet-stream"}
	_, err := sb.s3Backend.PutObject(bucket, key, meta, bytes.NewReader(body), int64(len(body)), nil)
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// GetObject returns the body of s3://bucket/key, straight from the backend.
func (sb *Sandbox) GetObject(ctx context.Context, bucket, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	obj, err := sb.s3Backend.GetObject(bucket, key, nil)
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer obj.Contents.Close()

	b, err := io.ReadAll(obj.Contents)
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	return b, nil
}

// S3Client returns a real aws-sdk-go-v2 S3 client for the sandbox S3:
// path-style, the sandbox region, static credentials, and checksums only
// when an operation requires them (see the package documentation for why).
// It reads no environment variable or shared config file.
func (sb *Sandbox) S3Client() *s3.Client {
	return s3.New(s3.Options{
		Region:                     sb.Region,
		BaseEndpoint:               aws.String(sb.S3URL),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(AdminAccessKeyID, AdminSecretAccessKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// Names of the authorization files under a prefix, as the agent's bootstrap
// and the admin command expect them.
const (
	CertFile   = "device.pem.crt"
	KeyFile    = "private.pem.key"
	CAFile     = "AmazonRootCA1.pem"
	ConfigFile = "edge-agent.yaml"
)

// SeedAuthorizationFiles creates bucket when absent and puts a device's
// authorization files under prefix: device.pem.crt, private.pem.key,
// AmazonRootCA1.pem, and edge-agent.yaml when agentConfig is not empty. An
// empty files.Key is skipped (the CSR flow keeps the key on the device).
func (sb *Sandbox) SeedAuthorizationFiles(ctx context.Context, bucket, prefix string, files DeviceFiles, agentConfig []byte) error {
	if err := sb.CreateBucket(ctx, bucket); err != nil {
		return err
	}

	objects := []struct {
		name string
		body []byte
	}{{CertFile, files.Cert}, {KeyFile, files.Key}, {CAFile, files.CA}, {ConfigFile, agentConfig}}
	for _, o := range objects {
		if len(o.body) == 0 && o.name != CertFile && o.name != CAFile {
			continue
		}
		if len(o.body) == 0 {
			return fmt.Errorf("seed s3://%s/%s: %s is empty", bucket, prefix, o.name)
		}
		if err := sb.PutObject(ctx, bucket, objectKey(prefix, o.name), o.body); err != nil {
			return err
		}
	}
	return nil
}

func objectKey(prefix, name string) string {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return name
	}
	return path.Join(prefix, name)
}
