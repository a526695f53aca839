package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"

	"github.com/edge-agent/edge-agent/internal/sandbox"
)

// options are edge-sandbox's flags.
type options struct {
	dir      string
	region   string
	logLevel string

	credAddr, s3Addr, controlAddr, adminAddr string
	credDuration                             time.Duration
	requireSigV4                             bool

	device, roleAlias, roleARN, bucket, prefix, keyType string

	faultMode, faultDelay, faultRetryAfter, faultSize, faultCount string
}

// errUsage marks a command line that cannot be run; exit status 2.
var errUsage = errors.New("usage")

const usageHead = `edge-sandbox runs stand-ins for the AWS endpoints that edge-agent uses, on
loopback, until SIGTERM or SIGINT:

  - the IoT credentials provider (HTTPS; client certificates signed by the
    sandbox CA required; GET /role-aliases/<alias>/credentials),
  - S3 (gofakes3, plain HTTP, path-style; any access key is accepted
    unless --require-sigv4),
  - the control plane (IoT, SageMaker, IAM; plain HTTP),
  - an admin endpoint to flip the credentials provider's faults.

It writes into --dir:
  ca.pem               the sandbox root CA (install it as AmazonRootCA1.pem)
  endpoints.env        shell-sourceable EDGE_SANDBOX_* variables; written
                       last, so its presence means the sandbox is ready
  edge-sandbox.pid     this process's PID
  devices/<name>/      with --seed-device: device.pem.crt, private.pem.key,
                       AmazonRootCA1.pem, edge-agent.yaml (also put in S3)

Usage:
  edge-sandbox --dir DIR [--seed-device NAME --role-alias A --bucket B --prefix P]
               [--cred-duration 1h] [--fault MODE ...]

Flags:
`

const usageTail = `
Faults (--fault MODE, or at runtime through the admin endpoint):
  403, 404, 500   answer with that status and AWS's JSON message
  429             answer 429 with Retry-After (--fault-retry-after)
  slow            answer normally after --fault-delay (default 30s)
  garbage, html   answer 200 with a body that is not JSON
  huge            answer 200 with a JSON body of --fault-size bytes (1 MiB)
  none            answer normally
--fault-delay applies to every mode; --fault-count N limits a fault to the
next N calls.

Admin endpoint ($EDGE_SANDBOX_ADMIN_URL):
  curl -s $EDGE_SANDBOX_ADMIN_URL/faults                      # current faults
  curl -s -X PUT -d mode=429 -d retry_after=5 $EDGE_SANDBOX_ADMIN_URL/faults
  curl -s -X PUT -d mode=500 -d count=3 $EDGE_SANDBOX_ADMIN_URL/faults
  curl -s -X PUT -d mode=slow -d delay=10s $EDGE_SANDBOX_ADMIN_URL/faults
  curl -s -X PUT -H 'Content-Type: application/json' \
       -d '{"mode":"html"}' $EDGE_SANDBOX_ADMIN_URL/faults
  curl -s -X DELETE $EDGE_SANDBOX_ADMIN_URL/faults            # back to normal
  curl -s $EDGE_SANDBOX_ADMIN_URL/stats    # credentials calls, by status

S3 access: path-style at $EDGE_SANDBOX_S3_URL, signed with any credentials;
with --require-sigv4, only with the admin key in endpoints.env
(EDGE_SANDBOX_ADMIN_ACCESS_KEY_ID, EDGE_SANDBOX_ADMIN_SECRET_ACCESS_KEY) or
with unexpired credentials that the credentials provider issued. With aws-sdk-go-v2 also set
RequestChecksumCalculation to WhenRequired.
`

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := pflag.NewFlagSet("edge-sandbox", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageHead)
		fs.PrintDefaults()
		fmt.Fprint(stderr, usageTail)
	}
	defineFlags(fs, &o)

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return o, err
		}
		return o, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return o, o.check()
}

func defineFlags(fs *pflag.FlagSet, o *options) {
	fs.StringVar(&o.dir, "dir", "", "folder to write ca.pem, endpoints.env, the pid file and device files into (required)")
	fs.StringVar(&o.region, "region", sandbox.DefaultRegion, "region of the sandbox account")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.credAddr, "credentials-addr", "127.0.0.1:0", "listen address of the credentials provider")
	fs.StringVar(&o.s3Addr, "s3-addr", "127.0.0.1:0", "listen address of S3")
	fs.StringVar(&o.controlAddr, "control-addr", "127.0.0.1:0", "listen address of the control plane")
	fs.StringVar(&o.adminAddr, "admin-addr", "127.0.0.1:0", "listen address of the admin endpoint")
	fs.DurationVar(&o.credDuration, "cred-duration", sandbox.DefaultCredentialDuration,
		"lifetime of issued credentials (also of the seeded role alias)")

	fs.BoolVar(&o.requireSigV4, "require-sigv4", false,
		"make S3 check signatures: the admin key or unexpired issued credentials")

	fs.StringVar(&o.device, "seed-device", "", "create a device (thing) with this name and seed its files")
	fs.StringVar(&o.roleAlias, "role-alias", "edge-sandbox-fleet", "role alias of the seeded device")
	fs.StringVar(&o.roleARN, "role-arn", "", "role the alias points to (default arn:aws:iam::"+sandbox.Account+":role/<alias>-role)")
	fs.StringVar(&o.bucket, "bucket", "edge-sandbox", "bucket to seed the device's authorization files into")
	fs.StringVar(&o.prefix, "prefix", "", "prefix in the bucket (default authorization-files/<device>/)")
	fs.StringVar(&o.keyType, "key-type", "ecdsa", "key of the seeded device: ecdsa or rsa")

	fs.StringVar(&o.faultMode, "fault", "none", "fault of the credentials provider at start (see below)")
	fs.StringVar(&o.faultDelay, "fault-delay", "", "delay before every answer, such as 2s")
	fs.StringVar(&o.faultRetryAfter, "fault-retry-after", "", "Retry-After of the 429 fault, such as 5s")
	fs.StringVar(&o.faultSize, "fault-size", "", "body size in bytes of the huge fault")
	fs.StringVar(&o.faultCount, "fault-count", "", "apply the fault to the next N calls only")
}

func (o options) check() error {
	if o.dir == "" {
		return fmt.Errorf("%w: --dir is required", errUsage)
	}
	if o.keyType != string(sandbox.KeyECDSA) && o.keyType != string(sandbox.KeyRSA) {
		return fmt.Errorf("%w: --key-type %q: want ecdsa or rsa", errUsage, o.keyType)
	}
	if o.credDuration <= 0 {
		return fmt.Errorf("%w: --cred-duration %s: want a positive duration", errUsage, o.credDuration)
	}
	if _, err := o.faults(); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return nil
}

// faults returns the faults that the --fault flags describe.
func (o options) faults() (sandbox.Faults, error) {
	values := map[string]string{"mode": o.faultMode, "delay": o.faultDelay,
		"retry_after": o.faultRetryAfter, "size": o.faultSize, "count": o.faultCount}
	return sandbox.ParseFaults(func(k string) string { return values[k] })
}

func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}
